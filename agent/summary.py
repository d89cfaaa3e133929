"""The scan's summary table, fitted to the terminal: one line per device at any width from 80 columns up.

Columns are dropped, narrowest value first, rather than wrapped: at 80 columns an operator sees address, vendor,
country, flag and packets; the evidence and the device's own name join as the terminal widens. Cells that still do
not fit end in an ellipsis; the full text is in the report (--output, --json).
"""

from __future__ import annotations

from typing import Any

from agent.report import Summary
from fingerprints.report import Report

#: (column, the width from which it is shown, its minimum and maximum width): the first five never shrink below
#: what their usual values need, the optional ones give way first
COLUMNS: tuple[tuple[str, int, int, int], ...] = (
    ("address", 0, 15, 18),
    ("vendor", 0, 12, 22),
    ("country", 0, 7, 16),
    ("flag", 0, 7, 7),
    ("packets", 0, 7, 7),
    ("device", 110, 4, 22),
    ("evidence", 130, 4, 60),
    ("reason", 160, 4, 50),
)


def title(report: Report) -> str:
    scan = report.scan
    identified = sum(1 for d in report.devices if d.identification and d.identification.vendor_id)
    how = "counted on the wire" if scan.packets_counted == "wire" else "reserved by the rate limiter"
    per = f", {scan.packets_sent / identified:.0f} per identified device" if identified else ""
    return (f"{len(report.devices)} devices ({identified} identified), {scan.packets_sent} packets ({how}){per}, "
            f"peak {scan.max_packet_rate:g}/s")


def _cells(row: Summary, width: int) -> dict[str, str]:
    flagged = row.flag.startswith("FLAGGED")
    reason = row.flag.partition(": ")[2]
    address = row.address if width >= 110 else row.address.partition(" (")[0]  # the MAC only where room is
    return {"address": address, "vendor": row.vendor, "country": row.country, "flag": "FLAGGED" if flagged else "",
            "packets": row.packets, "device": row.device, "evidence": row.evidence, "reason": reason}


def table(report: Report, rows: list[Summary], width: int) -> Any:
    """A rich Table of the rows for a terminal `width` columns wide."""
    from rich.table import Table

    shown = [(name, low, high) for name, since, low, high in COLUMNS if width >= since]
    out = Table(title=title(report), expand=False, pad_edge=False)
    for name, low, high in shown:
        out.add_column(name, no_wrap=True, overflow="ellipsis", min_width=low, max_width=high,
                       style="red" if name == "flag" else None, justify="right" if name == "packets" else "left")
    for row in rows:
        cells = _cells(row, width)
        out.add_row(*(cells[name] for name, _low, _high in shown))
    return out
