"""What-if for analysts: a proposed country list against the stored inventory, the official view untouched."""

from __future__ import annotations

from fastapi import APIRouter, Request

from collector.api.deps import AuditDep, SessionDep, SettingsDep
from collector.api.paging import CursorsDep, reject_unknown_params
from collector.api.responses import AUTHENTICATED, errors
from collector.errors import ApiError
from collector.whatif import check_sector, cursor_scope, evaluate, proposed_policy
from collector.whatif_schemas import WhatIfRequest, WhatIfResult

router = APIRouter(prefix="/api/v1", tags=["analysts"], responses=errors(*AUTHENTICATED))


@router.post("/whatif", response_model=WhatIfResult, responses=errors(400))
def post_whatif(request: Request, body: WhatIfRequest, session: SessionDep, audit: AuditDep, settings: SettingsDep,
                cursors: CursorsDep) -> WhatIfResult:
    """Counts by sector × headquarters country — devices, flagged today, flagged under the proposed list — and the
    devices that would become or stop being flagged, one page at a time (follow next_cursor with the same list).
    Nothing is stored but the audit row: the official verdicts, the changes feed and the summary stay as they are."""
    reject_unknown_params(request, set())
    try:
        proposal = proposed_policy(body.countries)
        check_sector(body.sector)
        if body.limit > settings.page_size_max:
            raise ApiError(422, "page_too_large", f"limit must be at most {settings.page_size_max}")
        scope = cursor_scope(proposal, body.sector)
        after = None if body.cursor is None else int(cursors.decode(body.cursor, scope)["i"])
    except ApiError as exc:
        audit.record(0, status=exc.status)
        raise
    result, next_after = evaluate(session, proposal=proposal, sector=body.sector, limit=body.limit, after=after)
    audit.record(len(result.changes))
    if next_after is not None:
        result.next_cursor = cursors.encode(scope, {"i": next_after})
    return result
