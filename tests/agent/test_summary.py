"""The scan's summary table fits the terminal: one line per device from 80 columns up, nothing wider than the
terminal, more columns as it widens (agent/summary.py)."""

from __future__ import annotations

import uuid

import pytest
from rich.console import Console

from agent.report import Summary
from agent.summary import table, title
from fingerprints.report import Report
from tests.factories import report_doc

ROWS = [
    Summary("DS-2CD2143G2-I", "198.18.0.21 (bc:ad:28:6e:4c:01)", "Hikvision", "CN",
            "FLAGGED: headquarters in CN (China); ultimate owner China Electronics Technology Group Corporation",
            "tls.subject=CN=198.18.0.21,OU=Hikvision,O=Hikvision,L=HZ,ST=ZJ,C=CN; http.server=App-webs/", "40"),
    Summary("", "198.18.1.26", "Schneider Electric", "FR", "", "modbus.vendor=Schneider Electric", "22"),
    Summary("SUN2000-10KTL-M1", "198.18.1.25", "Huawei Technologies Co., Ltd. (a very long name)", "CN (owner CN)",
            "FLAGGED: headquarters in CN (China)", "modbus.vendor=HUAWEI; modbus.product=SUN2000-10KTL-M1", "22"),
]


def _report() -> Report:
    doc = report_doc(str(uuid.uuid4()), devices=3)
    doc["scan"].update(packets_sent=84, max_packet_rate=21.0, packets_counted="wire")
    return Report.model_validate(doc)


@pytest.mark.parametrize("width", [80, 100, 120, 160, 220])
def test_every_device_is_one_line_and_no_line_is_wider_than_the_terminal(width: int) -> None:
    console = Console(width=width, record=True, color_system=None)
    console.print(table(_report(), ROWS, width))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    body = [line for line in lines if line.startswith("│")]
    assert len(body) == len(ROWS)  # no row wrapped onto a second line
    assert all("198.18." in line for line in body) and sum("FLAGGED" in line for line in body) == 2
    header = next(line for line in lines if line.startswith("┃"))
    assert ("evidence" in header) == (width >= 130)  # evidence only where there is room


def test_the_title_says_how_packets_were_counted_and_what_each_identified_device_cost() -> None:
    report = _report()
    assert "84 packets (counted on the wire)" in title(report) and "peak 21/s" in title(report)
