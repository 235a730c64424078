"""RFC 9457 problem details: the only place that maps domain errors to HTTP.

Handlers are chosen by walking the exception's class hierarchy, so the most specific
mapping wins; every problem has a stable ``type`` built from the error's ``code``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    RecordNotFoundError,
    RegistryError,
    RuleError,
    UnauthorisedError,
    UnknownError,
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
)


def problem_type(code: str) -> str:
    """The stable ``type`` URI of a problem code."""
    return f"/problems/{code}"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    """Return an ``application/problem+json`` response."""
    body = {"type": problem_type(code), "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


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

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, f"http-{exc.status_code}")
        return problem(exc.status_code, code, code.replace("-", " ").capitalize(), str(exc.detail))

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, BodyTooLargeError)
        return problem(413, exc.code, "Body too large", str(exc), limit=exc.limit)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        del request, exc  # the details stay in the server's log
        return problem(500, "internal-error", "Internal error", "the server failed to answer this request")

    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(LedgerError, domain_error)
    app.add_exception_handler(RegistryError, domain_error)
    app.add_exception_handler(BodyTooLargeError, too_large)
    app.add_exception_handler(NotFoundError, not_found)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
