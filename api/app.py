"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel

from api import city_routes, event_routes, lineage_routes, log_routes, problems, registry_routes, web
from api.body_limit import BodyLimit
from api.rate_limit import WriteRateLimiter
from api.reads import Reads
from api.settings import Settings
from ledger.tiles import MAX_ENTRY_SIZE
from registry.node import Node
from registry.writer import WriterClient

MAX_BODY = MAX_ENTRY_SIZE
"""No request needs a body larger than one log entry (65,535 bytes, C2SP tlog-tiles)."""


def create_app(
    node: Node,
    settings: Settings | None = None,
    *,
    limiter: WriteRateLimiter | None = None,
    writer: WriterClient | None = None,
) -> FastAPI:
    """Return the registry's HTTP application serving ``node``.

    ``settings`` default to the environment's (:mod:`api.settings`); ``limiter`` (for tests, with
    their own clock) defaults to one built from the settings. With a ``writer`` (``registry
    serve``), events are written by the writer process (:mod:`registry.writer`), which also
    pushes checkpoints to the witnesses; without, by ``node``'s own registry.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if writer is None:
            node.start_witnessing()  # a no-op without witnesses.policy in the data directory
        yield
        if writer is not None:
            await writer.close()
        reads.close()
        node.close()

    app = FastAPI(
        title="Carbon removal registry",
        description="A verifiable registry for carbon removal credits on a C2SP transparency log.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.node = node
    if limiter is None:
        limiter = WriteRateLimiter(settings.write_rate, settings.write_burst)
    app.state.write_limiter = limiter
    app.state.writer = writer
    reads = app.state.reads = Reads(node.engine, settings.read_threads)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    problems.install(app)
    app.include_router(log_routes.router)
    app.include_router(event_routes.router)
    app.include_router(registry_routes.router)
    app.include_router(lineage_routes.router)
    app.include_router(city_routes.router)
    web.install(app)

    @app.get(
        "/v1/health",
        tags=["meta"],
        summary="Liveness",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}, **problems.responses()},
    )
    def health() -> dict[str, str]:
        """Liveness: answers without touching the database (the load benchmark's reference)."""
        return {"status": "ok"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _with_null_examples(_problems_only(document), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problems_only(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every error response as problem+json of one shared Problem schema (RFC 9457 §3).

    FastAPI declares its own 422 body (``HTTPValidationError``) on each route with parameters;
    ours is a problem, so that declaration is replaced and its schemas dropped.
    """
    invalid = problems.responses(422)[422]
    for operations in document["paths"].values():
        for operation in operations.values():
            declared = operation["responses"].get("422", {})
            if "application/json" in declared.get("content", {}):
                operation["responses"]["422"] = invalid
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = problems.Problem.model_json_schema()
    return document


def _with_null_examples(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """``document`` with the response models' examples as written, nulls included.

    FastAPI drops every null from the document it generates, examples included, which turns an
    example such as ``"revoked_at": null`` into one its own schema refuses.
    """
    schemas = document["components"]["schemas"]
    for route in iter_route_contexts(app.routes):
        model = getattr(route.original_route, "response_model", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel) and model.__name__ in schemas):
            continue
        extra = model.model_config.get("json_schema_extra")
        if isinstance(extra, dict) and "examples" in extra:
            schemas[model.__name__]["examples"] = extra["examples"]
    return document
