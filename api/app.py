"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import city_routes, event_routes, lineage_routes, log_routes, problems, registry_routes
from registry.node import Node


def create_app(node: Node) -> FastAPI:
    """Return the registry's HTTP application serving ``node``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        node.start_witnessing()  # a no-op without witnesses.policy in the data directory
        yield
        node.close()

    app = FastAPI(
        title="Carbon removal registry",
        description="A verifiable registry for carbon removal credits on a C2SP transparency log.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.node = node
    problems.install(app)
    app.include_router(log_routes.router)
    app.include_router(event_routes.router)
    app.include_router(registry_routes.router)
    app.include_router(lineage_routes.router)
    app.include_router(city_routes.router)

    @app.get("/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness: answers without touching the database (the load benchmark's reference)."""
        return {"status": "ok"}

    return app
