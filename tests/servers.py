"""Real servers for tests that need one, in threads: uvicorn on a free port of 127.0.0.1, and
the writer process's server (registry.writer) on a Unix socket."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from registry.node import open_node
from registry.writer import WriterServer


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` until the block ends; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@contextmanager
def writer_serving(root: Path, database_url: str | None = None) -> Iterator[str]:
    """Serve the registry in ``root`` as ``registry serve``'s writer process does; yield its socket.

    The writer opens a node of its own, so the application under test reads what another
    process's writer wrote, as an HTTP worker does.
    """
    node = open_node(root, database_url=database_url)
    directory = tempfile.mkdtemp(prefix="writer-")
    server = WriterServer(node, f"{directory}/socket")
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield f"{directory}/socket"
    finally:
        stop.set()
        thread.join(10)
        node.close()
        shutil.rmtree(directory, ignore_errors=True)
