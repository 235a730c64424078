"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Connection

from api.rate_limit import WriteRateLimiter
from api.reads import Reads
from registry.node import Node
from registry.writer import WriterClient


async def get_node(request: Request) -> Node:
    # async: FastAPI runs a plain function dependency on a worker thread, a hop per request.
    node: Node = request.app.state.node
    return node


NodeDep = Annotated[Node, Depends(get_node)]


def get_connection(node: NodeDep) -> Iterator[Connection]:
    """A read-only connection for one request (SQLite: deferred, so it never blocks the writer)."""
    with node.engine.connect() as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]


async def get_write_limiter(request: Request) -> WriteRateLimiter:
    limiter: WriteRateLimiter = request.app.state.write_limiter
    return limiter


WriteLimiterDep = Annotated[WriteRateLimiter, Depends(get_write_limiter)]


async def get_reads(request: Request) -> Reads:
    reads: Reads = request.app.state.reads
    return reads


ReadsDep = Annotated[Reads, Depends(get_reads)]


async def get_writer(request: Request) -> WriterClient | None:
    """The writer process's client under ``registry serve``; None when ``node`` writes itself."""
    writer: WriterClient | None = request.app.state.writer
    return writer


WriterDep = Annotated[WriterClient | None, Depends(get_writer)]
