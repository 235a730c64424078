"""Read endpoints of the registry's state: accounts, holdings, projects, batches, retirements, history.

Public registry data needs no login (DESIGN.md §5). Lists are cursor-paginated: pass the
``next`` of one page as ``after`` to get the following one (:mod:`api.pagination`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api import schemas
from api.deps import ReadsDep
from api.pagination import NextLinkDep
from api.schemas import read
from registry import queries
from registry.vocabulary import BlockStatus

router = APIRouter(tags=["registry"])

Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Page size.")]
MAX_INT = 2**63 - 1  # the databases' BIGINT
SerialCursor = Annotated[
    int | None, Query(ge=0, le=MAX_INT, description="Return items after this serial (a page's `next`).")
]
IndexCursor = Annotated[
    int | None, Query(ge=-1, le=MAX_INT, description="Return items after this log index (a page's `next`).")
]
Number = Annotated[int, Path(ge=0, le=MAX_INT, examples=[1])]
# Path examples name records of the demo registry (``registry demo``), so that they can be tried.
AccountId = Annotated[str, Path(examples=["turku"])]
ProjectId = Annotated[str, Path(examples=["fi-biochar-1"])]
Serial = Annotated[str, Path(examples=["fi-biochar-1.2028.1.1-25000"])]
RetirementIndex = Annotated[int, Path(ge=0, le=MAX_INT, examples=[34])]
Json = dict[str, Any]


@read(router, "/v1/accounts/{account_id}", "An account", schemas.Account, 404)
async def account(account_id: AccountId, reads: ReadsDep) -> Json:
    """An account: role, name, keys with the log indices that bound and revoked them, a city's jurisdiction."""
    return await reads(queries.account, account_id)


@read(router, "/v1/accounts/{account_id}/holdings", "An account's holdings", schemas.Holdings, 404, 422)
async def holdings(
    account_id: AccountId,
    link: NextLinkDep,
    reads: ReadsDep,
    *,
    status: Annotated[Literal["held", "retired"], Query(description="`held` (default) or `retired`.")] = "held",
    after: SerialCursor = None,
    limit: Limit = 100,
) -> Json:
    """The serial blocks an account holds (or has retired), with the total."""
    read = reads.each_statement(queries.holdings, account_id, status=BlockStatus(status), after=after, limit=limit)
    return link(await read)


@read(router, "/v1/projects", "Projects", schemas.ProjectPage, 422)
async def projects(
    link: NextLinkDep,
    reads: ReadsDep,
    after: Annotated[str | None, Query(max_length=64, description="Return projects after this id.")] = None,
    limit: Limit = 100,
) -> Json:
    """Projects in id order."""
    return link(await reads(queries.project_list, after=after, limit=limit))


@read(router, "/v1/projects/{project_id}", "A project", schemas.Project, 404)
async def project(project_id: ProjectId, reads: ReadsDep) -> Json:
    """A project and the numbers of its batches."""
    return await reads(queries.project, project_id)


@read(router, "/v1/batches/{number}", "A batch", schemas.Batch, 404, 422)
async def batch(number: Number, reads: ReadsDep) -> Json:
    """A batch with its supply: issued = held + buffer + retired + cancelled."""
    return await reads(queries.batch, number)


@read(router, "/v1/batches/{number}/blocks", "A batch's blocks", schemas.BlockPage, 404, 422)
async def batch_blocks(
    number: Number,
    link: NextLinkDep,
    reads: ReadsDep,
    after: SerialCursor = None,
    limit: Limit = 100,
) -> Json:
    """The blocks of a batch in serial order: where each unit stands now."""
    return link(await reads(queries.batch_blocks, number, after=after, limit=limit))


@read(router, "/v1/retirements", "Retirements", schemas.RetirementPage, 422)
async def retirements(
    link: NextLinkDep,
    reads: ReadsDep,
    *,
    beneficiary: Annotated[str | None, Query(max_length=64)] = None,
    holder: Annotated[str | None, Query(max_length=64)] = None,
    after: IndexCursor = None,
    limit: Limit = 100,
) -> Json:
    """Retirements in log order, optionally for one beneficiary account or by one holder."""
    return link(await reads(queries.retirement_list, beneficiary=beneficiary, holder=holder, after=after, limit=limit))


@read(router, "/v1/retirements/{index}", "A retirement", schemas.Retirement, 404, 422)
async def retirement(index: RetirementIndex, reads: ReadsDep) -> Json:
    """The retirement logged at ``index``."""
    return await reads(queries.retirement, index)


@read(router, "/v1/cancellations", "Cancellations", schemas.CancellationPage, 422)
async def cancellations(link: NextLinkDep, reads: ReadsDep, after: IndexCursor = None, limit: Limit = 100) -> Json:
    """Cancellations (reversals, invalidations, corrections, exports) in log order."""
    return link(await reads(queries.cancellation_list, after=after, limit=limit))


@read(router, "/v1/serials/{serial}/history", "A serial range's history", schemas.History, 404)
async def serial_history(serial: Serial, reads: ReadsDep) -> Json:
    """Every logged step that touched the serial range, and where its units stand now."""
    return await reads(queries.history, serial)
