"""Periodic inventory reports: gather a month's figures, render them (HTML, PDF, CSV, JSON), keep them.

    parse_period("2026-11") -> Period            (PeriodError for impossible, early or future months)
    validate_request(period, sector, fmt, pseudonymise) -> ReportRequest   (ApiError 422 with a reason)
    gather(session, period=..., sector=..., pseudonymiser=...) -> InventoryContent
    render(session, req) -> (bytes, versions);  generate(session, req, created_by=...) -> InventoryReport
"""

from __future__ import annotations

from collector.inventory.content import InventoryContent
from collector.inventory.gather import gather
from collector.inventory.period import Period, PeriodError, current_period, parse_period
from collector.inventory.pseudonym import Pseudonymiser
from collector.inventory.render import CONTENT_TYPES, FORMATS, render_html
from collector.inventory.store import (
    ReportRequest,
    filename,
    generate,
    get_meta,
    get_report,
    list_reports,
    render,
    validate_request,
)

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "InventoryContent",
    "Period",
    "PeriodError",
    "Pseudonymiser",
    "ReportRequest",
    "current_period",
    "filename",
    "gather",
    "generate",
    "get_meta",
    "get_report",
    "list_reports",
    "parse_period",
    "render",
    "render_html",
    "validate_request",
]
