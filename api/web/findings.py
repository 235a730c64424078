"""``/findings``: the double-counting findings (registry.findings) in log order, filterable by kind.

Each shows its severity, message, the units it touches (linked to their trace) and its evidence,
linked to each entry's receipt so a reader can check the log holds it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ConnectionDep
from api.lineage_routes import FindingCursor
from api.web.render import PageRoute, next_page, page
from registry import findings, overview
from registry.findings import Kind

router = APIRouter(route_class=PageRoute)

PAGE = 50


@router.get("/findings", response_class=HTMLResponse)
def finding_list(
    request: Request,
    conn: ConnectionDep,
    *,
    kind: Kind | Literal[""] = "",  # an HTML form sends "" for "every kind"
    after: FindingCursor = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Findings per page.")] = PAGE,
) -> HTMLResponse:
    """A page of findings of ``kind`` (every kind when empty), after the finding ``after`` (``idx.seq``)."""
    index, _, seq = (after or "").partition(".")
    cursor = (int(index), int(seq)) if after else None
    found = findings.load(conn, kind=kind or None, after=cursor, limit=limit + 1)  # one more: is there a next?
    shown = found[:limit]
    last = shown[-1] if len(found) > limit else None
    return page(
        request,
        "findings.html",
        "Double-counting findings",
        section="findings",
        findings=shown,
        serials=overview.printed_units(conn, [u for f in shown for u in f.units]),
        kind=kind,
        kinds=list(Kind),
        paged=after is not None,
        next_url=next_page(request, f"{last.idx}.{last.seq}" if last else None),
    )
