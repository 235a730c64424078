"""RFC 9457 problem details: the only place that maps domain errors to HTTP.

Handlers are chosen by walking the exception's class hierarchy, so the most specific
mapping wins; every problem has a stable ``type`` built from the error's ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.rate_limit import RateLimitedError
from api.web.render import error_page
from ledger.errors import (
    CanonicalJSONError,
    EntryError,
    EnvelopeError,
    ForkError,
    LedgerError,
    ProofError,
    SignatureError,
    StoreBehindError,
)
from registry.errors import (
    ConflictError,
    InvalidEventError,
    RangeTooWideError,
    RecordNotFoundError,
    RegistryError,
    RuleError,
    UnauthorisedError,
    UnknownError,
    WriterUnavailableError,
    WrongRegistryError,
)

PROBLEM_JSON = "application/problem+json"

STATUS_BY_ERROR: dict[type[Exception], int] = {
    CanonicalJSONError: 400,
    EnvelopeError: 400,
    EntryError: 400,
    SignatureError: 403,
    ProofError: 500,  # the server failed to build a proof from its own store
    StoreBehindError: 503,
    ForkError: 503,
    LedgerError: 500,
    InvalidEventError: 422,
    UnknownError: 422,
    RuleError: 422,
    WrongRegistryError: 403,
    UnauthorisedError: 403,
    ConflictError: 409,
    RecordNotFoundError: 404,
    RangeTooWideError: 422,
    WriterUnavailableError: 503,  # the event may or may not be in: resubmitting it is safe
    RegistryError: 500,
}

# Attributes of a domain error that a client can act on, copied into the problem body.
FACTS = (
    "field",
    "errors",
    "serials",
    "account",
    "holder",
    "since",
    "index",
    "event_id",
    "limit",
    "size",
    "findings",
    "record",
)


def problem_type(code: str) -> str:
    """The stable ``type`` URI of a problem code."""
    return f"/problems/{code}"


def problem(
    status: int, code: str, title: str, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """Return an ``application/problem+json`` response (RFC 9457 §3: type, title, status, detail, extensions)."""
    body = {"type": problem_type(code), "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class Problem(BaseModel):
    """RFC 9457 problem details (§3.1); extension members (§3.2) carry the facts of the error."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-holder",
                    "title": "Not holder",
                    "status": 409,
                    "detail": "serials perm.2028.1.1-10 are not held by 'buyer': they are held by 'city-a' since "
                    "log index 12",
                    "field": "serial",
                    "serials": "perm.2028.1.1-10",
                    "account": "buyer",
                    "holder": "city-a",
                    "since": 12,
                }
            ]
        },
    )

    type: str
    """``/problems/<code>``: stable, one per kind of error (README, "Errors")."""
    title: str
    status: int
    detail: str


PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"

# One example per status that a route may declare, for the OpenAPI document.
EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "The body is not a valid envelope.",
        {"type": "/problems/malformed-envelope", "detail": "envelope.payload must be base64"},
    ),
    403: (
        "A signature is missing or does not verify.",
        {"type": "/problems/bad-signature", "detail": "signature by unknown key 3f2a…"},
    ),
    404: (
        "No such record, or not covered by the published checkpoint.",
        {"type": "/problems/not-found", "detail": "no account 'no-such-account'"},
    ),
    409: (
        "The request conflicts with the registry's state.",
        {
            "type": "/problems/units-retired",
            "detail": "serials perm.2028.1.1-10 were retired at log index 9 and can never move again",
            "serials": "perm.2028.1.1-10",
            "since": 9,
        },
    ),
    413: (
        "The body is larger than 65,535 bytes.",
        {
            "type": "/problems/body-too-large",
            "detail": "the body is 70000 bytes or more; the limit is 65535",
            "limit": 65535,
        },
    ),
    422: (
        "A parameter or an event field is invalid.",
        {
            "type": "/problems/invalid-request",
            "detail": "invalid field(s): query.limit",
            "errors": [{"field": "query.limit", "message": "Input should be greater than or equal to 1"}],
        },
    ),
    429: (
        "A signing key is over its write rate; see Retry-After.",
        {
            "type": "/problems/rate-limited",
            "detail": "key 3f2a… is over its write rate; retry after 1 s",
            "keyid": "3f2a…",
            "retry_after": 1,
        },
    ),
    500: (
        "The server failed to answer.",
        {"type": "/problems/internal-error", "detail": "the server failed to answer this request"},
    ),
    503: (
        "The log cannot serve this yet (a checkpoint is pending).",
        {
            "type": "/problems/checkpoint-pending",
            "detail": "the statement reflects 12 log entries; the log has published 11",
        },
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring problem+json answers for ``statuses``, each with an example.

    Every route also answers 500 problem+json, so 500 is always declared.
    """
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 500}):
        description, example = EXAMPLES[status]
        example = {"type": example["type"], "title": _title(example["type"]), "status": status} | example
        content = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}, "example": example}}
        declared[status] = {"description": description, "content": content}
    return declared


def _title(problem_type_uri: str) -> str:
    return problem_type_uri.rsplit("/", 1)[-1].replace("-", " ").capitalize()


class NotFoundError(Exception):
    """A resource that does not exist (or is not covered by a published checkpoint)."""

    code = "not-found"


class BodyTooLargeError(Exception):
    """A request body over the limit; nothing of it was read further."""

    code = "body-too-large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the body is {size} bytes or more; the limit is {limit}")
        self.size = size
        self.limit = limit


def _wants_a_page(request: Request) -> bool:
    """A browser asking for a page: HTML accepted, and not an address of the JSON or log API."""
    path = request.url.path
    api = path.startswith(("/v1/", "/log/", "/static/")) or path in ("/v1", "/log", "/openapi.json")
    return not api and "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Register problem+json handlers for domain errors, validation errors and HTTP errors."""

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        del request
        status = next((STATUS_BY_ERROR[c] for c in type(exc).__mro__ if c in STATUS_BY_ERROR), 500)
        code = getattr(exc, "code", "internal-error")
        facts = {name: getattr(exc, name) for name in FACTS if getattr(exc, name, None) is not None}
        return problem(status, code, code.replace("-", " ").capitalize(), str(exc), **facts)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        del request
        return problem(404, NotFoundError.code, "Not found", str(exc))

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem(422, "invalid-request", "Invalid request", f"invalid field(s): {fields}", errors=errors)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and _wants_a_page(request):  # a reader who mistyped a page's address
            return error_page(request, 404, "Page not found", f"There is no page at {request.url.path}.")
        status = HTTPStatus(exc.status_code)
        code = status.phrase.lower().replace(" ", "-")  # not-found, method-not-allowed, …
        # Starlette's headers carry what the status requires, e.g. Allow on a 405 (RFC 9110 §15.5.6).
        return problem(int(status), code, status.phrase, str(exc.detail), headers=exc.headers)

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, BodyTooLargeError)
        return problem(413, exc.code, "Body too large", str(exc), limit=exc.limit)

    async def rate_limited(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, RateLimitedError)
        # RFC 6585 §4: 429 Too Many Requests, with Retry-After in seconds (RFC 9110 §10.2.3).
        return problem(
            429,
            exc.code,
            "Rate limited",
            str(exc),
            headers={"Retry-After": str(exc.retry_after)},
            keyid=exc.keyid,
            retry_after=exc.retry_after,
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        del request, exc  # the details stay in the server's log
        return problem(500, "internal-error", "Internal error", "the server failed to answer this request")

    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(LedgerError, domain_error)
    app.add_exception_handler(RegistryError, domain_error)
    app.add_exception_handler(BodyTooLargeError, too_large)
    app.add_exception_handler(RateLimitedError, rate_limited)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
