"""The analysts' read-only web view under /ui: report list, report page, device search with evidence.

Authentication is the analyst's API token: typed once into the login form and kept in an HttpOnly, SameSite=Strict
cookie scoped to /ui (a bearer header works too). Every page is audited like an API request. Pages carry no script;
the Content-Security-Policy forbids scripts outright, and Jinja2 escapes every value.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlmodel import Session, select

from collector.api.deps import READERS, Auditor, Caller, SessionDep, SettingsDep
from collector.api.paging import ascii_int, refuse_control_in_query
from collector.api.routes.inventory import REPORT_CSP
from collector.errors import ApiError
from collector.inventory import FORMATS, filename, get_meta, get_report, list_reports
from collector.models import ApiToken, utcnow
from collector.queries import device_detail
from collector.sectors import sectors
from collector.security import parse_credential, verify
from collector.web.search import DeviceQuery, search_devices

router = APIRouter(prefix="/ui", include_in_schema=False)

COOKIE = "herkomst_ui"
PAGE_MAX = 200
LOGIN_BODY_MAX = 4096
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
            "X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin"}


@lru_cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("collector.web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else "–"
    env.globals["sectors"] = sectors
    return env


def _page(template: str, status: int = 200, csp: str = CSP, **context: Any) -> HTMLResponse:
    html = _env().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers={**_HEADERS, "Content-Security-Policy": csp})


def _error(status: int, reason: str, message: str, caller: Caller | None = None) -> HTMLResponse:
    return _page("error.html", status=status, status_code=status, reason=reason, message=message, caller=caller)


def _caller(request: Request, session: Session) -> Caller | None:
    """The analyst behind the cookie or bearer header, or None."""
    token = request.cookies.get(COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    return _check_token(session, token) if token else None


def _check_token(session: Session, token: str) -> Caller | None:
    parsed = parse_credential(token[:300])
    if parsed is None or parsed.kind != "api":
        return None
    row = session.exec(select(ApiToken).where(ApiToken.lookup == parsed.lookup)).first()
    if row is None or row.id is None or not verify(parsed, row.secret_hash) or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    if row.role not in READERS:  # a metrics token reads /metrics, not the web view
        return None
    return Caller(row.id, row.name, row.role)


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303, headers=_HEADERS)


def _same_origin(request: Request) -> bool:
    """POSTs must come from our own pages (the cookie is SameSite=Strict too; this covers old browsers)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "")


def _params(request: Request, allowed: set[str]) -> dict[str, str]:
    refuse_control_in_query(request)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(422, "unknown_parameter", f"unknown query parameter(s): {', '.join(unknown)[:200]}")
    if any(len(request.query_params.getlist(k)) > 1 for k in request.query_params):
        raise ApiError(422, "repeated_parameter", "give each query parameter once")
    return {k: v for k, v in request.query_params.items() if v != ""}


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return _page("login.html", message=None)


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    if not _same_origin(request):
        return _error(403, "cross_origin", "log in from the collector's own login page")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > LOGIN_BODY_MAX:
            return _error(413, "too_large", "the login form is larger than a token")
    form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
    token = (form.get("token") or [""])[0].strip()
    caller = _check_token(session, token) if token else None
    if caller is None:
        return _page("login.html", status=401, message="That is not a valid analyst token. Ask an administrator "
                     "for one (herkomst collector admin create-api-token NAME --role analyst).")
    Auditor(request, caller, session).record(1)
    response = RedirectResponse("/ui/reports", status_code=303, headers=_HEADERS)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https", max_age=8 * 3600)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not _same_origin(request):
        return _error(403, "cross_origin", "log out from the collector's own pages")
    response = _login_redirect()
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/ui/reports", status_code=303, headers=_HEADERS)


@router.get("/static/app.css")
def stylesheet() -> Response:
    css = files("collector.web").joinpath("static/app.css").read_bytes()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600",
                                                          "X-Content-Type-Options": "nosniff"})


@router.get("/reports")
def reports_page(request: Request, session: SessionDep) -> Response:
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    try:
        p = _params(request, {"period", "sector", "format"})
        period, sector, fmt = p.get("period"), p.get("sector"), p.get("format")
        if period is not None and not (len(period) == 7 and period[4] == "-" and period.isascii()
                                       and period.replace("-", "").isdigit()):
            raise ApiError(422, "invalid_period", "write the period as YYYY-MM")
        if sector is not None and sector not in sectors():
            raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}")
        if fmt is not None and fmt not in FORMATS:
            raise ApiError(422, "unknown_format", f"format must be one of {', '.join(FORMATS)}")
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _error(exc.status, exc.reason, exc.message, caller)
    rows = list_reports(session, period=period, sector=sector, fmt=fmt, limit=PAGE_MAX)
    Auditor(request, caller, session).record(len(rows))
    return _page("reports.html", caller=caller, rows=rows, period=period or "", sector=sector or "",
                 format=fmt or "", formats=FORMATS)


def _report_id(raw: str) -> int:
    number = ascii_int(raw, max_digits=12)
    if number is None:
        raise ApiError(404, "inventory_report_not_found", "no such inventory report")
    return number


@router.get("/reports/{report_id}")
def report_page(report_id: str, request: Request, session: SessionDep) -> Response:
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    meta = _stored(request, session, report_id, caller, get=get_meta)
    if isinstance(meta, Response):
        return meta
    return _page("report.html", caller=caller, r=meta, filename=filename(meta))


def _stored(request: Request, session: Session, report_id: str, caller: Caller, get: Any = get_report) -> Any:
    """The stored report (or its metadata, with get=get_meta), audited; an error page when there is none."""
    try:
        _params(request, set())
        row = get(session, report_id=_report_id(report_id))
        if row is None:
            raise ApiError(404, "inventory_report_not_found", f"no inventory report {report_id[:12]}")
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _error(exc.status, exc.reason, exc.message, caller)
    Auditor(request, caller, session).record(1)
    return row


@router.get("/reports/{report_id}/view")
def report_view(report_id: str, request: Request, session: SessionDep) -> Response:
    """The stored HTML report, framed by the report page; sandboxed, no script, nothing loaded."""
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    row = _stored(request, session, report_id, caller)
    if isinstance(row, Response):
        return row
    if row.format != "html":
        return _error(415, "not_html", "only HTML reports can be viewed in the browser; download this one", caller)
    headers = {**_HEADERS, "X-Frame-Options": "SAMEORIGIN",
               "Content-Security-Policy": REPORT_CSP + "; frame-ancestors 'self'"}
    return Response(row.content, media_type=row.content_type, headers=headers)


@router.get("/reports/{report_id}/download")
def report_download(report_id: str, request: Request, session: SessionDep) -> Response:
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    row = _stored(request, session, report_id, caller)
    if isinstance(row, Response):
        return row
    headers = {**_HEADERS, "Content-Disposition": f'attachment; filename="{filename(row)}"',
               "Content-Security-Policy": REPORT_CSP, "X-Content-SHA256": row.sha256}
    return Response(row.content, media_type=row.content_type, headers=headers)


def _device_query(p: dict[str, str]) -> tuple[DeviceQuery, int, int | None]:
    text = p.get("q")
    if text is not None and len(text) > 100:
        raise ApiError(422, "query_too_long", "search text is limited to 100 characters")
    flagged = {"yes": True, "no": False, None: None}.get(p.get("flagged"), "bad")
    if flagged == "bad":
        raise ApiError(422, "invalid_flagged", "flagged must be 'yes', 'no' or empty")
    sector = p.get("sector")
    if sector is not None and sector not in sectors():
        raise ApiError(422, "unknown_sector", f"unknown sector {sector[:64]!r}")
    country = p.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha() and country.isupper()):
        raise ApiError(422, "invalid_country", "country is a two-letter ISO code such as CN")
    limit = ascii_int(p.get("limit", "50"), max_digits=1000)
    if limit is None or limit == 0:
        raise ApiError(422, "invalid_limit", "limit is a whole number from 1")
    if limit > PAGE_MAX:
        raise ApiError(422, "page_too_large", f"limit must be at most {PAGE_MAX}")
    raw_after = p.get("after")
    after = None if raw_after is None else ascii_int(raw_after, max_digits=12)
    if raw_after is not None and after is None:
        raise ApiError(422, "invalid_cursor", "after is a device id")
    query = DeviceQuery(text=text, flagged=flagged if isinstance(flagged, bool) else None, sector=sector,
                        country=country)
    return query, limit, after


@router.get("/agents")
def agents_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The fleet (collector/fleet.py): silent agents first, then the rest, with their last status."""
    from collector.fleet import fleet_status, latest_proposals

    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    try:
        p = _params(request, {"silent"})
        if p.get("silent") not in (None, "yes"):
            raise ApiError(422, "invalid_parameter", "silent is yes or empty")
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _error(exc.status, exc.reason, exc.message, caller)
    entries = [e for e in fleet_status(session, settings) if e.silent or not p.get("silent")]
    entries.sort(key=lambda e: (not e.silent, e.organisation, e.hostname))
    proposals = latest_proposals(session, [e.id for e in entries])
    Auditor(request, caller, session).record(len(entries))
    return _page("agents.html", caller=caller, rows=entries, proposals=proposals, p=p,
                 silent=sum(e.silent for e in entries))


@router.get("/devices")
def devices_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    try:
        p = _params(request, {"q", "flagged", "sector", "country", "limit", "after"})
        query, limit, after = _device_query(p)
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _error(exc.status, exc.reason, exc.message, caller)
    rows = search_devices(session, query=query, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    Auditor(request, caller, session).record(len(rows))
    nxt = None
    if more:
        nxt = {k: v for k, v in p.items() if k != "after"} | {"after": str(rows[-1]["id"])}
    return _page("devices.html", caller=caller, rows=rows, p=p, next_params=nxt)


@router.get("/devices/{device_id}")
def device_page(device_id: str, request: Request, session: SessionDep) -> Response:
    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    try:
        _params(request, set())
        number = ascii_int(device_id, max_digits=12)
        if number is None:
            raise ApiError(404, "device_not_found", "no such device")
        detail = device_detail(session, device_id=number)
        if detail is None:
            raise ApiError(404, "device_not_found", f"no device {device_id}")
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _error(exc.status, exc.reason, exc.message, caller)
    Auditor(request, caller, session).record(1)
    return _page("device.html", caller=caller, d=detail)


WHATIF_PAGE = 100
WHATIF_TEXT_MAX = 1000


def _whatif_query(p: dict[str, str]) -> tuple[Any, str | None, int | None]:
    """The proposal (None when the form was not sent yet), the sector and the device id the page starts after."""
    from collector import whatif

    text = p.get("countries")
    if text is not None and len(text) > WHATIF_TEXT_MAX:
        raise ApiError(422, "query_too_long", f"the list is limited to {WHATIF_TEXT_MAX} characters")
    sector = p.get("sector")
    whatif.check_sector(sector)
    raw_after = p.get("after")
    after = None if raw_after is None else ascii_int(raw_after, max_digits=12)
    if raw_after is not None and after is None:
        raise ApiError(422, "invalid_cursor", "after is a device id")
    proposal = None if text is None else whatif.proposed_policy(whatif.parse_country_list(text))
    return proposal, sector, after


@router.get("/whatif")
def whatif_page(request: Request, session: SessionDep) -> Response:
    """A proposed country list against the stored inventory, beside the official flags (collector/whatif.py)."""
    from collector import whatif

    caller = _caller(request, session)
    if caller is None:
        return _login_redirect()
    official = whatif.official_policy(session)
    p: dict[str, str] = {}
    try:
        p = _params(request, {"countries", "sector", "after"})
        proposal, sector, after = _whatif_query(p)
    except ApiError as exc:
        Auditor(request, caller, session).record(0, status=exc.status)
        return _page("whatif.html", status=exc.status, caller=caller, p=p, official=official, result=None,
                     error=exc.message, next_params=None)
    result, nxt = None, None
    if proposal is not None:
        result, next_after = whatif.evaluate(session, proposal=proposal, sector=sector, limit=WHATIF_PAGE,
                                             after=after)
        if next_after is not None:
            nxt = {k: v for k, v in p.items() if k != "after"} | {"after": str(next_after)}
    Auditor(request, caller, session).record(0 if result is None else len(result.changes))
    return _page("whatif.html", caller=caller, p=p, official=official, result=result, error=None, next_params=nxt)
