"""The JSON bodies the read API answers, as pydantic models.

They describe exactly what :mod:`registry.queries` and the other read functions return (no
key added or renamed), so the OpenAPI document says what a client gets; a key the registry
leaves out (an account's ``jurisdiction``) stays out rather than becoming ``null``. Answers are
written straight to JSON by pydantic-core, not validated against their model on every request:
validation was a third of the server's time on a holdings page of a hundred blocks. The tests
hold the two together instead: the schemathesis run checks every answer against its schema
(``extra="forbid"``: no undeclared key), and the read tests check them value by value. So
a read function returns JSON values only: an aggregate comes back from PostgreSQL as a
``Decimal``, which would go out as a string, and is converted with ``int()``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import pydantic_core
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.problems import responses

SERIAL = "perm.2028.1.101-250"
CHECKPOINT = (
    "localhost/carbon-registry\n15\n+xUzKgBz+6fOcG9hz43ERXvlc5ImmsE7PrUARTGLREk=\n\n"
    "— localhost/carbon-registry kklmUcqwLQF81ug9BcbHL5Hi8vNQzWyejL/+4+1mVR650dA7JWB3QXeU"
    "fEecAT9lOY3nL7Xfl1HwvR9WZcEzOacMAwI=\n"
)


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def read(
    router: APIRouter, path: str, summary: str, model: type[BaseModel], *problems: int
) -> Callable[[Endpoint], Endpoint]:
    """Declare ``GET path`` answering ``model`` (key for key, see the module docstring) or ``problems``."""

    def declare(endpoint: Endpoint) -> Endpoint:
        route = router.get(path, summary=summary, response_model=model, responses=responses(*problems))
        route(_written(endpoint))
        return endpoint

    return declare


def _written(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, answering its body written to JSON, with the headers its dependencies set.

    FastAPI validates a body that is not a ``Response`` against the route's model; one that is
    goes out as it is, without the headers dependencies put on the request's ``Response`` (a
    next page's ``Link``), so the wrapper asks for that object too and copies them.
    """
    signature = inspect.signature(endpoint, eval_str=True)  # FastAPI reads the wrapper's, in another module
    sent = inspect.Parameter("_sent", inspect.Parameter.KEYWORD_ONLY, annotation=Response)
    wrapper: Callable[..., Any]
    if inspect.iscoroutinefunction(endpoint):

        async def wrapper(*args: Any, _sent: Response, **kwargs: Any) -> Response:
            return _json(await endpoint(*args, **kwargs), _sent)

    else:  # FastAPI runs it on a worker thread, as it ran the endpoint

        def wrapper(*args: Any, _sent: Response, **kwargs: Any) -> Response:
            return _json(endpoint(*args, **kwargs), _sent)

    # Its name and docstring name the operation. FastAPI tells async from sync by the unwrapped
    # endpoint (__wrapped__) and reads the parameters from __signature__: the wrapper is of the
    # endpoint's kind, so both agree.
    functools.update_wrapper(wrapper, endpoint)
    wrapper.__signature__ = signature.replace(  # type: ignore[union-attr]
        parameters=[*signature.parameters.values(), sent], return_annotation=Response
    )
    return wrapper


def _json(body: Any, sent: Response) -> Response:
    answer = Response(pydantic_core.to_json(body), media_type="application/json")
    answer.headers.raw.extend(sent.headers.raw)
    return answer


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": list(examples)})


class Resource(BaseModel):
    """A JSON object of the read API: no key beyond those declared."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- accounts, projects, batches, blocks -------------------------------------------------------


class Key(Resource):
    keyid: str
    bound_at: int
    """The log index of the event that bound the key."""
    revoked_at: int | None


class Jurisdiction(Resource):
    country: str
    subdivision: str | None = None
    municipality: str | None = None


class Boundary(Resource):
    geojson_sha256: str | None
    description: str | None


BLOCK_EXAMPLE = {
    "serial": "perm.2028.1.561-1000",
    "first": 561,
    "last": 1000,
    "quantity": 440,
    "batch": 1,
    "holder": "supplier",
    "status": "held",
    "since": 7,
}
ACCOUNT_EXAMPLE = {
    "id": "city-a",
    "role": "city",
    "name": "City-A",
    "opened_at": 3,
    "keys": [{"keyid": "5739c8ddc638ea18185c3e0ec449dbd2", "bound_at": 3, "revoked_at": None}],
    "jurisdiction": {"country": "FI", "subdivision": "FI-19", "municipality": "853"},
    "boundary": {"geojson_sha256": "ab" * 32, "description": "city boundary"},
}
PROJECT_EXAMPLE = {
    "id": "perm",
    "supplier": "supplier",
    "name": "Project perm",
    "method": "biochar",
    "unit_type": "permanent-removal",
    "location": {"country": "FI", "subdivision": "FI-19"},
    "methodology": "test methodology",
    "scheme": "test scheme",
    "external_ids": [],
    "registered_at": 6,
}
RETIREMENT_EXAMPLE = {
    "index": 10,
    "serial": SERIAL,
    "quantity": 150,
    "holder": "city-a",
    "beneficiary": {"account": "city-a"},
    "purpose": "compensation",
    "period": {"year": 2029, "start": "2029-01-01", "end": "2029-12-31"},
    "jurisdiction": "FI-19",
}


class Account(Resource):
    """An account: role, name, keys, and a city's jurisdiction and boundary."""

    model_config = _examples(ACCOUNT_EXAMPLE)

    id: str
    role: str
    name: str
    opened_at: int
    keys: list[Key]
    jurisdiction: Jurisdiction | None = None
    boundary: Boundary | None = None


class Block(Resource):
    """Units ``first``..``last`` of a batch, where they stand now."""

    serial: str
    first: int
    last: int
    quantity: int
    batch: int
    holder: str | None
    status: str
    since: int
    """The log index of the step that put the units where they are."""


class Holdings(Resource):
    """A page of the blocks an account holds (or retired), and the total over every page."""

    model_config = _examples(
        {"account": "supplier", "status": "held", "total": 440, "items": [BLOCK_EXAMPLE], "next": None}
    )

    account: str
    status: Literal["held", "retired"]
    total: int
    items: list[Block]
    next: int | None
    """The serial to pass as ``after`` for the next page; null on the last page."""


class BlockPage(Resource):
    model_config = _examples({"items": [BLOCK_EXAMPLE], "next": 561})

    items: list[Block]
    next: int | None


class Location(Resource):
    country: str | None = None
    subdivision: str | None = None
    municipality: str | None = None
    latitude: str | None = None
    """Decimal degrees, as text: coordinates are never floats here."""
    longitude: str | None = None


class ProjectSummary(Resource):
    id: str
    supplier: str
    name: str
    method: str
    unit_type: str
    location: Location
    methodology: str | None
    scheme: str | None
    external_ids: list[Any]
    registered_at: int


class Project(ProjectSummary):
    """A project and the numbers of its batches."""

    model_config = _examples(PROJECT_EXAMPLE | {"batches": [1]})

    batches: list[int]


class ProjectPage(Resource):
    model_config = _examples({"items": [PROJECT_EXAMPLE], "next": None})

    items: list[ProjectSummary]
    next: str | None


class Period(Resource):
    start: str
    end: str


class Supply(Resource):
    held: int
    buffer: int
    retired: int
    cancelled: int


class Batch(Resource):
    """A batch with its supply: issued = held + buffer + retired + cancelled."""

    model_config = _examples(
        {
            "number": 1,
            "serial": "perm.2028.1.1-1000",
            "project": "perm",
            "vintage": 2028,
            "monitoring_period": {"start": "2028-01-01", "end": "2028-12-31"},
            "quantity": 1000,
            "buffer": 100,
            "durability_years": 1000,
            "expires": None,
            "report_sha256": "cd" * 32,
            "supplier": "supplier",
            "verifier": "verifier",
            "issued_at": 7,
            "supply": {"held": 640, "buffer": 0, "retired": 200, "cancelled": 160},
        }
    )

    number: int
    serial: str
    project: str
    vintage: int
    monitoring_period: Period
    quantity: int
    buffer: int
    durability_years: int | None
    expires: str | None
    report_sha256: str
    supplier: str
    verifier: str
    issued_at: int
    supply: Supply


# --- retirements, cancellations, history ------------------------------------------------------


class Beneficiary(Resource):
    account: str | None = None
    name: str | None = None


class RetirementPeriod(Resource):
    year: int | None = None
    start: str
    end: str


class Retirement(Resource):
    """A retirement: the units, who retired them, for whom, and for which period."""

    model_config = _examples(RETIREMENT_EXAMPLE)

    index: int
    serial: str
    quantity: int
    holder: str
    beneficiary: Beneficiary
    purpose: str
    period: RetirementPeriod
    jurisdiction: str | None


class RetirementPage(Resource):
    model_config = _examples({"items": [RETIREMENT_EXAMPLE], "next": None})

    items: list[Retirement]
    next: int | None


class Destination(Resource):
    registry: str | None
    account: str | None


class Cancellation(Resource):
    index: int
    reason: str
    project: str
    quantity: int
    from_buffer: int
    serial: str | None
    """The units cancelled beyond the buffer, if any."""
    destination: Destination | None
    note: str | None


class CancellationPage(Resource):
    model_config = _examples(
        {
            "items": [
                {
                    "index": 12,
                    "reason": "reversal",
                    "project": "perm",
                    "quantity": 60,
                    "from_buffer": 60,
                    "serial": None,
                    "destination": None,
                    "note": "kiln fire",
                }
            ],
            "next": None,
        }
    )

    items: list[Cancellation]
    next: int | None


class HistoryStep(Resource):
    index: int
    kind: str
    serial: str
    from_: str | None = Field(alias="from")
    to: str | None


class History(Resource):
    """Every logged step that touched a serial range, and where its units stand now."""

    model_config = _examples(
        {
            "serial": "perm.2028.1.240-260",
            "steps": [
                {"index": 7, "kind": "issuance", "serial": "perm.2028.1.101-1000", "from": None, "to": "supplier"},
                {"index": 8, "kind": "sale", "serial": "perm.2028.1.101-400", "from": "supplier", "to": "city-a"},
            ],
            "blocks": [BLOCK_EXAMPLE | {"serial": "perm.2028.1.251-400", "first": 251, "last": 400, "quantity": 150}],
        }
    )

    serial: str
    steps: list[HistoryStep]
    blocks: list[Block]


# --- double counting --------------------------------------------------------------------------


class StepRef(Resource):
    index: int
    part: int


class LineageStep(Resource):
    index: int
    part: int
    kind: str
    serial: str
    from_: str | None = Field(alias="from")
    to: str | None
    parents: list[StepRef]


class Edge(Resource):
    from_: StepRef = Field(alias="from")
    to: StepRef


class FindingUnits(Resource):
    batch: int
    first: int
    last: int


class Finding(Resource):
    id: str
    """``<log index>.<sequence>``: pass as ``after`` to list the findings that follow."""
    kind: str
    severity: Literal["blocking", "warning"]
    message: str
    evidence: list[int]
    units: list[FindingUnits]
    project: str | None
    account: str | None
    detail: dict[str, Any]


FINDING_EXAMPLE: dict[str, Any] = {
    "id": "12.0",
    "kind": "retired-twice",
    "severity": "blocking",
    "message": "units perm.2028.1.1-10 were retired here and in another registry",
    "evidence": [9, 12],
    "units": [{"batch": 1, "first": 1, "last": 10}],
    "project": "perm",
    "account": None,
    "detail": {},
}
LINEAGE_EXAMPLE = [
    {
        "index": 7,
        "part": 1,
        "kind": "issuance",
        "serial": "perm.2028.1.101-1000",
        "from": None,
        "to": "supplier",
        "parents": [],
    },
    {
        "index": 10,
        "part": 0,
        "kind": "retirement",
        "serial": SERIAL,
        "from": "supplier",
        "to": "supplier",
        "parents": [{"index": 7, "part": 1}],
    },
]


class Trace(Resource):
    """The lineage of a serial range from issuance on, as a graph, and the findings that touch it."""

    model_config = _examples(
        {
            "serial": SERIAL,
            "steps": LINEAGE_EXAMPLE,
            "edges": [{"from": {"index": 7, "part": 1}, "to": {"index": 10, "part": 0}}],
            "findings": [],
        }
    )

    serial: str
    steps: list[LineageStep]
    edges: list[Edge]
    findings: list[Finding]


class FindingPage(Resource):
    model_config = _examples({"items": [FINDING_EXAMPLE], "next": None})

    items: list[Finding]
    next: str | None


class RetirementCheck(Resource):
    """What a claim on a retirement must pass: its lineage, and the non-blocking findings on it."""

    model_config = _examples({"serial": SERIAL, "path": LINEAGE_EXAMPLE, "warnings": []})

    serial: str
    path: list[LineageStep]
    warnings: list[Finding]


class ImportedFile(Resource):
    file_sha256: str
    source: str
    file_kind: str
    file_name: str
    rows: int
    parts: int
    parts_imported: int
    records: int
    problems: int
    indices: list[int]


class ImportPage(Resource):
    model_config = _examples(
        {
            "items": [
                {
                    "file_sha256": "9f" * 32,
                    "source": "verra",
                    "file_kind": "retirements",
                    "file_name": "transactions.csv",
                    "rows": 200,
                    "parts": 1,
                    "parts_imported": 1,
                    "records": 200,
                    "problems": 0,
                    "indices": [15],
                }
            ],
            "next": None,
        }
    )

    items: list[ImportedFile]
    next: int | None


class ImportProblem(Resource):
    row: int
    field: str | None
    reason: str
    index: int


class ImportProblemPage(Resource):
    model_config = _examples(
        {
            "file_sha256": "9f" * 32,
            "items": [{"row": 17, "field": "quantity", "reason": "not a whole number of tonnes", "index": 15}],
            "next": None,
        }
    )

    file_sha256: str
    items: list[ImportProblem]
    next: str | None


# --- cities -----------------------------------------------------------------------------------


class City(Resource):
    id: str
    name: str
    country: str | None
    subdivision: str | None
    municipality: str | None


STATEMENT_EXAMPLE: dict[str, Any] = {
    "type": "net-emissions-statement",
    "city": {"id": "city-a", "name": "City-A", "country": "FI", "subdivision": "FI-19", "municipality": "853"},
    "year": 2029,
    "period": {"start": "2029-01-01", "end": "2029-12-31"},
    "log_size": 9,
    "unit": "t CO2e",
    "gwp": "AR5",
    "gross_emissions": 129000,
    "sold_credits": 0,
    "in_boundary_removals": 100,
    "retired_credits": 600,
    "positive": 129000,
    "negative": 700,
    "net": 128300,
    "terms": {"retired_credits": {"tonnes": 600, "projects": [], "evidence": [4, 5, 6, 8]}},
    "shares": {"durable": {"tonnes": 700, "of": 700, "percent": "100.00", "evidence": [4, 5, 6, 7, 8]}},
    "diversification": {"by_method": [], "by_country": []},
    "expiring": [],
    "reversals": [],
    "warnings": [{"code": "no-base-year", "message": "the city has no base-year inventory up to 2029", "evidence": []}],
    "exclusions": [],
    "evidence": [4, 5, 6, 7, 8],
}


class Statement(Resource):
    """A city's net-emissions statement for a year: net = (gross + sold) − (removals + retired).

    ``terms``, ``shares`` and ``diversification`` break each figure down with the log entries
    (``evidence``) it came from; README, "The statement", describes them.
    """

    model_config = _examples(STATEMENT_EXAMPLE)

    type: str
    city: City
    year: int
    period: Period
    log_size: int
    """The number of log entries the figures reflect."""
    unit: str
    gwp: str
    gross_emissions: int
    sold_credits: int
    in_boundary_removals: int
    retired_credits: int
    positive: int
    negative: int
    net: int
    terms: dict[str, dict[str, Any]]
    shares: dict[str, dict[str, Any]]
    diversification: dict[str, list[dict[str, Any]]]
    expiring: list[dict[str, Any]]
    reversals: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    exclusions: list[dict[str, Any]]
    evidence: list[int]


class StatementEntry(Resource):
    index: int
    entry: str
    """The log entry, base64."""
    proof: list[str]
    """Its inclusion proof in the checkpoint's tree, base64 hashes."""


class SignedStatement(Resource):
    """A statement, its note signed by the log, the checkpoint, and every cited entry with its proof."""

    model_config = _examples(
        {
            "statement": STATEMENT_EXAMPLE,
            "note": "carbon-registry/net-emissions-statement/v1\nlocalhost/carbon-registry\ncity-a\n2029\nsize 9\n…",
            "checkpoint": CHECKPOINT,
            "entries": [{"index": 4, "entry": "eyJlbnZlbG9wZSI6…", "proof": ["R5za1X1gSkMQgmQjbk86mwmr5+kJ…"]}],
        }
    )

    statement: Statement
    note: str
    checkpoint: str
    entries: list[StatementEntry]
