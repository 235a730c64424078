"""Double counting, for auditors: units' lineage, findings, the claim check, and imported exports.

``GET /v1/trace/{serial}`` answers JSON, or GraphML with ``Accept: application/graphml+xml``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api import schemas
from api.deps import ConnectionDep, NodeDep
from api.pagination import NextLinkDep
from api.problems import responses
from api.registry_routes import RetirementIndex, Serial
from api.schemas import read
from registry import eligibility, findings, imports, lineage, queries
from registry.findings import Kind

router = APIRouter(tags=["double counting"])

GRAPHML = "application/graphml+xml"
MAX_INT = 2**63 - 1
Json = dict[str, Any]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Page size.")]
MAX_BLOCKS = 10_000
"""Blocks a traced range may lie in: the bound on one trace's work (a whole batch of a large
registry lies in a million blocks, each with its own history). Wider ranges answer 422
``range-too-wide``; trace them in parts."""
FindingCursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}\.[0-9]{1,9}$", description="Return items after this id (a page's `next`)."),
]
TRACE_RESPONSES: dict[int | str, Json] = {
    200: {
        "description": "The units' lineage, as JSON or as GraphML.",
        "content": {GRAPHML: {"schema": {"type": "string"}, "example": '<?xml version="1.0"?><graphml>…</graphml>'}},
    },
    **responses(404, 422),
}


@router.get(
    "/v1/trace/{serial}",
    summary="A serial range's lineage",
    response_model=schemas.Trace,
    responses=TRACE_RESPONSES,
    response_model_exclude_unset=True,
)
def trace(
    serial: Serial,
    request: Request,
    conn: ConnectionDep,
    node: NodeDep,
) -> Any:
    """Every step that moved any unit of the serial range, from issuance on, and the findings that touch it.

    Answers 422 ``range-too-wide`` if the units lie in more than :data:`MAX_BLOCKS` blocks.
    """
    steps, report = eligibility.trace_report(conn, node.lineage, serial, max_blocks=MAX_BLOCKS)
    if GRAPHML in request.headers.get("accept", ""):
        return Response(lineage.to_graphml(steps), media_type=GRAPHML)
    return report


@read(router, "/v1/findings", "Double-counting findings", schemas.FindingPage, 422)
def finding_list(
    link: NextLinkDep,
    conn: ConnectionDep,
    *,
    kind: Kind | None = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    project: Annotated[str | None, Query(max_length=64)] = None,
    after: FindingCursor = None,
    limit: Limit = 100,
) -> Json:
    """Double-counting findings in log order, by kind, account or project."""
    # One beyond the page says whether another follows (``next`` is null on the last page).
    found = findings.load(conn, kind=kind, account=account, project=project, after=_cursor(after), limit=limit + 1)
    page = found[:limit]
    more = len(found) > limit
    return link({"items": [f.to_json() for f in page], "next": f"{page[-1].idx}.{page[-1].seq}" if more else None})


@read(
    router, "/v1/retirements/{index}/check", "The claim check of a retirement", schemas.RetirementCheck, 404, 409, 422
)
def check_retirement(index: RetirementIndex, conn: ConnectionDep, node: NodeDep) -> Json:
    """The check a claim on this retirement must pass: its lineage, and no blocking finding on its units.

    Answers 409 ``blocked-by-findings`` listing the findings that block it.
    """
    checked = eligibility.check_retirement(conn, node.lineage, index)
    return {
        "serial": str(checked.serial),
        "path": [step.to_json() for step in checked.path],
        "warnings": [f.to_json() for f in checked.findings],
    }


@read(router, "/v1/imports", "Imported exports of other registries", schemas.ImportPage, 422)
def import_list(
    link: NextLinkDep,
    conn: ConnectionDep,
    after: Annotated[int | None, Query(ge=-1, le=MAX_INT, description="A page's `next`.")] = None,
    limit: Limit = 100,
) -> Json:
    """Imported exports of other registries: SHA-256, source, rows, records, problems, log indices."""
    found = imports.import_list(conn, after=after, limit=limit + 1)
    items = found["items"][:limit]
    # The cursor is a file's first-part log index: the first of its ``indices``.
    return link({"items": items, "next": items[-1]["indices"][0] if len(found["items"]) > limit else None})


@read(
    router,
    "/v1/imports/{file_sha256}/problems",
    "The problems of an imported file",
    schemas.ImportProblemPage,
    404,
    422,
)
def import_problems(
    file_sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    link: NextLinkDep,
    conn: ConnectionDep,
    after: FindingCursor = None,
    limit: Limit = 100,
) -> Json:
    """The rows of an imported file that could not be used as published, and why."""
    page = imports.import_problems_of(conn, file_sha256, after=_cursor(after), limit=limit)
    # A full page's ``next`` may point at the end: probe for one more row so the last page says null.
    if (
        page["next"] is not None
        and not imports.import_problems_of(conn, file_sha256, after=_cursor(page["next"]), limit=1)["items"]
    ):
        page["next"] = None
    return link(page)


def _cursor(after: str | None) -> tuple[int, int] | None:
    if after is None:
        return None
    index, seq = after.split(".")
    return int(index), int(seq)
