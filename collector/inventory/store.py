"""Generating an inventory report and keeping it (InventoryReport): one path for the CLI, API and scheduler."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from collector.errors import ApiError
from collector.inventory.gather import LIST_LIMIT, gather
from collector.inventory.period import Period, PeriodError, parse_period
from collector.inventory.pseudonym import Pseudonymiser
from collector.inventory.render import CONTENT_TYPES, FORMATS, iter_csv, render_html, render_json
from collector.models import InventoryReport, utcnow
from collector.sectors import sectors

#: Every column but the content, for listings that must not load the documents.
META_COLUMNS = [c for c in InventoryReport.__table__.c if c.name != "content"]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ReportRequest:
    """A validated request for one report."""

    period: Period
    sector: str | None
    format: str
    pseudonymise: bool


def validate_request(
    period: str, sector: str | None, fmt: str, pseudonymise: bool, *, now: datetime | None = None
) -> ReportRequest:
    """Check period, sector and format; ApiError (422) with a machine-readable reason otherwise."""
    try:
        p = parse_period(period, now=now)
    except PeriodError as exc:
        raise ApiError(422, exc.reason, exc.message) from exc
    if sector is not None and sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}; see GET /api/v1/sectors",
                       [{"allowed": sorted(sectors())}])
    if fmt not in FORMATS:
        raise ApiError(422, "unknown_format", f"unknown format {fmt[:16]!r}; use one of {', '.join(FORMATS)}")
    return ReportRequest(p, sector, fmt, pseudonymise)


def render(
    session: Session, req: ReportRequest, *, pseudonym_key: bytes | None = None, appendix_limit: int = LIST_LIMIT,
    now: datetime | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The report's bytes in the requested format, and the versions it was made with."""
    names = Pseudonymiser(pseudonym_key) if req.pseudonymise else None
    if req.format == "csv":
        data = "".join(iter_csv(session, period=req.period, sector=req.sector, pseudonymiser=names)).encode("utf-8")
        from collector.policy import policy_in_force
        from fingerprints import catalogue_version

        return data, {"catalogue_version": catalogue_version(),
                      "policy_version": policy_in_force(session, at=now).policy.version}
    content = gather(session, period=req.period, sector=req.sector, pseudonymiser=names,
                     appendix_limit=appendix_limit, now=now)
    versions = {"catalogue_version": content.method.catalogue_version,
                "policy_version": content.method.policy_version}
    if req.format == "json":
        return render_json(content), versions
    html = render_html(content)
    if req.format == "pdf":
        from collector.inventory.pdf import html_to_pdf

        return html_to_pdf(html), versions
    return html.encode("utf-8"), versions


def generate(
    session: Session, req: ReportRequest, *, created_by: str, pseudonym_key: bytes | None = None,
    now: datetime | None = None,
) -> InventoryReport:
    """Render the report and add it to the session (the caller commits)."""
    data, versions = render(session, req, pseudonym_key=pseudonym_key, now=now)
    row = InventoryReport(
        period=str(req.period), sector=req.sector, format=req.format, pseudonymised=req.pseudonymise,
        created_at=now or utcnow(), created_by=created_by[:200], content_type=CONTENT_TYPES[req.format],
        content=data, sha256=hashlib.sha256(data).hexdigest(),
        params={"appendix_limit": LIST_LIMIT,
                "pseudonym_key": None if not req.pseudonymise else "configured" if pseudonym_key else "per-report"},
        **versions,
    )
    session.add(row)
    session.flush()
    return row


def filename(row: Any) -> str:
    """A download name such as herkomst-inventory-2026-11-water-pseudonymised.html."""
    parts = ["herkomst-inventory", row.period, row.sector or "all-sectors"]
    if row.pseudonymised:
        parts.append("pseudonymised")
    return "-".join(parts) + f"-{row.id}.{row.format}"


def list_reports(
    session: Session, *, period: str | None = None, sector: str | None = None, fmt: str | None = None,
    limit: int = 100, before_id: int | None = None,
) -> list[Any]:
    """Stored reports, newest first, without their content."""
    t = InventoryReport.__table__.c  # type: ignore[attr-defined]
    q = select(*META_COLUMNS).order_by(t.id.desc())
    if period is not None:
        q = q.where(t.period == period)
    if sector is not None:
        q = q.where(t.sector == sector)
    if fmt is not None:
        q = q.where(t.format == fmt)
    if before_id is not None:
        q = q.where(t.id < before_id)
    return list(session.execute(q.limit(limit)).all())


def get_report(session: Session, *, report_id: int) -> InventoryReport | None:
    return session.execute(
        select(InventoryReport).where(col(InventoryReport.id) == report_id)
    ).scalars().first()


def get_meta(session: Session, *, report_id: int) -> Any | None:
    t = InventoryReport.__table__.c  # type: ignore[attr-defined]
    return session.execute(select(*META_COLUMNS).where(t.id == report_id)).first()
