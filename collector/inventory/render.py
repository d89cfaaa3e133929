"""Renders an inventory: self-contained HTML (Jinja2, inline CSS and SVG), PDF from that HTML, CSV and JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import lru_cache
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import func, select
from sqlmodel import Session

from collector.exports import csv_row
from collector.inventory import charts
from collector.inventory.content import InventoryContent
from collector.inventory.period import Period
from collector.inventory.pseudonym import Pseudonymiser
from collector.models import Device, Identification, Organisation

Format = Literal["html", "pdf", "csv", "json"]
FORMATS: tuple[Format, ...] = ("html", "pdf", "csv", "json")
CONTENT_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
CSV_COLUMNS = ["period", "sector", "organisation", "vendor_id", "vendor", "category", "country", "owner_country",
               "flagged", "devices"]


def _country(code: str | None) -> str:
    from fingerprints.countries import country_name

    return "unknown" if code is None else f"{country_name(code)} ({code})"


def _number(n: int | float) -> str:
    return f"{n:,}".replace(",", "\u202f") if isinstance(n, int) else f"{n:.2f}"


def _pct(part: int, whole: int) -> str:
    return "–" if whole == 0 else f"{100 * part / whole:.1f}%"


def _delta(now: int, before: int) -> str:
    d = now - before
    return "±0" if d == 0 else f"{d:+,}".replace(",", "\u202f")


def _month(period: str) -> str:
    import calendar

    year, month = period.split("-")
    return f"{calendar.month_name[int(month)]} {year}"


@lru_cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("collector.inventory", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(country=_country, number=_number, month=_month)
    env.globals.update(pct=_pct, delta=_delta)
    return env


def render_html(content: InventoryContent) -> str:
    """The report as one self-contained HTML document (no script, no external resource)."""
    from fingerprints.countries import country_name

    listed = content.method.policy_countries
    per_sector: dict[str, list[tuple[str | None, int]]] = {}
    names: dict[str, str] = {}
    for cell in content.by_sector_country:
        per_sector.setdefault(cell.sector, []).append((cell.country, cell.devices))
        names[cell.sector] = cell.sector_name
    sector_chart = charts.stacked_bars(
        [(names[s], segs) for s, segs in per_sector.items()], listed,
        "Devices by sector and vendor headquarters (* = on the policy list)",
    )
    vendor_chart = charts.bars(
        [(v.vendor or v.vendor_id or "unknown", v.devices) for v in content.top_vendors],
        "Flagged devices by vendor",
    )
    trend_chart = charts.paired_bars(
        [(t.sector_name, t.previous_flagged, t.flagged) for t in content.trend],
        "Flagged devices by sector, previous period and this one",
        (_month(content.previous_period), _month(content.period)),
    )
    return _environment().get_template("report.html").render(
        c=content, sector_chart=sector_chart, vendor_chart=vendor_chart, trend_chart=trend_chart,
        listed_names=[country_name(x) for x in listed],
    )


def render_json(content: InventoryContent) -> bytes:
    return content.model_dump_json(by_alias=True, indent=2).encode("utf-8")


def iter_csv(
    session: Session, *, period: Period, sector: str | None, pseudonymiser: Pseudonymiser | None,
    batch: int = 2000,
) -> Iterator[str]:
    """The period's breakdown (organisation × vendor × country × flag), streamed in chunks of CSV text."""
    d, o, i = Device.__table__, Organisation.__table__, Identification.__table__  # type: ignore[attr-defined]
    flagged = func.coalesce(i.c.flagged, False)
    keys = [o.c.name, o.c.sector, i.c.vendor_id, i.c.vendor, i.c.category, i.c.country, i.c.owner_country, flagged]
    q = (select(*keys, func.count(d.c.id))
         .select_from(d.join(o, o.c.id == d.c.organisation_id).outerjoin(i, i.c.device_id == d.c.id))
         .where(d.c.first_seen < period.end, d.c.last_seen >= period.start))
    if sector is not None:
        q = q.where(o.c.sector == sector)
    q = q.group_by(*keys).order_by(o.c.sector, o.c.name, i.c.vendor_id, i.c.country)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    result = session.execute(q.execution_options(yield_per=batch))
    for partition in result.partitions(batch):
        for name, sec, vid, vendor, cat, country, owner, flag, n in partition:
            org = pseudonymiser.name(name) if pseudonymiser is not None else name
            writer.writerow(csv_row([str(period), sec, org, vid or "", vendor or "", cat or "", country or "",
                                     owner or "", "true" if flag else "false", n]))
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()

