"""Projects and batches: ``/projects`` (search by name or id, method and country), ``/projects/{id}`` and
``/batches/{n}`` (a batch's supply, and its blocks: where each unit stands).

Lists are cursor-paginated like the JSON API's: a page reads at most ``limit`` + 1 rows, whatever
the registry's size, and links the next page.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import ConnectionDep
from api.registry_routes import MAX_INT
from api.web.render import PageRoute, next_page, page
from registry import overview, queries
from registry.vocabulary import RemovalMethod

router = APIRouter(route_class=PageRoute)

PAGE = 50
PageSize = Annotated[int, Query(ge=1, le=200, description="Rows per page.")]
Empty = Literal[""]  # an HTML form sends an empty field as an empty value: no filter


@router.get("/projects", response_class=HTMLResponse)
def project_list(
    request: Request,
    conn: ConnectionDep,
    *,
    q: Annotated[str, Query(max_length=100)] = "",
    method: RemovalMethod | Empty = "",
    country: Annotated[str, Query(pattern="^([A-Za-z]{2})?$")] = "",
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: PageSize = PAGE,
) -> HTMLResponse:
    """Projects in id order whose id or name contains ``q``, of ``method``, in ``country`` (ISO 3166-1 alpha-2)."""
    found = overview.project_search(
        conn, text=q.strip() or None, method=method or None, country=country.upper() or None, after=after, limit=limit
    )
    return page(
        request,
        "projects.html",
        "Projects",
        section="projects",
        projects=found["items"],
        next_url=next_page(request, found["next"]),
        paged=after is not None,
        q=q,
        method=method,
        country=country.upper(),
        methods=list(RemovalMethod),
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project(request: Request, conn: ConnectionDep, project_id: Annotated[str, Path(max_length=64)]) -> HTMLResponse:
    """A project: method, unit type, location, methodology, scheme, ids in other registries, and its batches."""
    found = queries.project(conn, project_id)
    return page(
        request,
        "project.html",
        found["name"],
        section="projects",
        project=found,
        batches=overview.project_batches(conn, project_id),
    )


@router.get("/batches/{number}", response_class=HTMLResponse)
def batch(
    request: Request,
    conn: ConnectionDep,
    number: Annotated[int, Path(ge=0, le=MAX_INT)],
    *,
    after: Annotated[int | None, Query(ge=0, le=MAX_INT, description="The serial after which to list.")] = None,
    limit: PageSize = PAGE,
) -> HTMLResponse:
    """A batch's supply by status, and a page of its blocks with where each stands and who benefits."""
    found = queries.batch(conn, number)
    blocks = queries.batch_blocks(conn, number, after=after, limit=limit)
    return page(
        request,
        "batch.html",
        f"Batch {number}",
        section="projects",
        batch=found,
        project=queries.project(conn, found["project"]),
        blocks=blocks["items"],
        outcomes=overview.block_outcomes(conn, blocks["items"]),
        next_url=next_page(request, blocks["next"]),
    )
