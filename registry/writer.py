"""The writer process: the registry's one writer, behind a Unix socket, for the HTTP workers.

``registry serve`` starts it before its HTTP workers. A worker parses a request, checks its rate
limit and hands the envelope here; this process verifies, applies and commits it (in group
commits, :mod:`registry.service`) and answers with its receipt, or with the error that refused
it. So one process owns the log's head, and the workers' writes never contend for it (two
workers that each wrote took turns on its lock and dropped each other's caches), and the
committer has an interpreter of its own: in one process it took the GIL in turns with the HTTP
event loop, and each hand-over cost about half a millisecond on a loaded machine.

Messages, both ways: a 4-byte request number and a 4-byte length (big-endian), then that many
bytes. A request is an envelope's JSON; an answer is a pickled :class:`registry.node.Receipted`
or the exception that refused the event (ledger and registry errors pickle whole,
:class:`ledger.errors.RebuildableError`). Pickle is safe here because the socket lives in a
directory only this user can enter, and only ``registry serve``'s own processes connect to it.

Run as ``python -m registry.writer DATA_DIR SOCKET [DATABASE_URL]``: it prints ``ready`` once
it accepts connections, and exits on SIGTERM or SIGINT (after committing what is queued) or
when the process that started it has gone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import pickle
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from ledger.dsse import Envelope
from ledger.errors import LedgerError
from registry import heap
from registry.datadir import DataDirError
from registry.errors import RegistryError, WriterUnavailableError
from registry.node import Node, Receipted, open_node
from registry.state import Applied

HEADER = struct.Struct(">II")
"""A message's request number and length."""

MAX_MESSAGE = 1 << 20
"""No envelope or answer is near this (an envelope is at most one 64 KiB log entry)."""

ANSWER_TIMEOUT = 60.0
"""Seconds a worker waits for the writer's answer before it answers 503 (the event may be in)."""

START_TIMEOUT = 120.0
"""Seconds to wait for the writer to open the registry (it replays what its state lacks)."""


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles whole; an unexpected error travels as its type and message."""
    if isinstance(exc, LedgerError | RegistryError):
        return exc
    return RuntimeError(f"the writer failed: {type(exc).__name__}: {exc}")


def _read_message(conn: socket.socket) -> tuple[int, bytes] | None:
    """The next message from ``conn``, or None once the other side has closed it."""
    header = _read_exactly(conn, HEADER.size)
    if header is None:
        return None
    number, length = HEADER.unpack(header)
    if length > MAX_MESSAGE:
        raise ConnectionError(f"a message of {length} bytes is larger than {MAX_MESSAGE}")
    body = _read_exactly(conn, length)
    if body is None:
        raise ConnectionError("the connection closed inside a message")
    return number, body


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            if data:
                raise ConnectionError("the connection closed inside a message")
            return None
        data += chunk
    return bytes(data)


class WriterServer:
    """Serves ``node``'s registry to the HTTP workers connected to a Unix socket at ``path``."""

    def __init__(self, node: Node, path: str) -> None:
        self.node = node
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.listener.settimeout(0.5)  # so that serve() notices stop() and a vanished parent

    def serve(self, stop: threading.Event, parent: int | None = None) -> None:
        """Accept workers until ``stop`` is set, or until process ``parent`` is no longer ours."""
        while not stop.is_set() and (parent is None or os.getppid() == parent):
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            threading.Thread(target=self._serve_worker, args=(conn,), name="writer-conn", daemon=True).start()
        self.listener.close()

    def _serve_worker(self, conn: socket.socket) -> None:
        """Queue each envelope the worker sends; a thread of the connection's own answers it
        when its group commits, so that a worker slow to read holds up no one else's commits."""
        answers: queue.SimpleQueue[tuple[int, Future[Applied] | BaseException] | None] = queue.SimpleQueue()
        threading.Thread(target=self._answer, args=(conn, answers), name="writer-answer", daemon=True).start()
        try:
            while (message := _read_message(conn)) is not None:
                number, body = message
                try:
                    queued = self.node.registry.enqueue(Envelope.from_json(json.loads(body)))
                except Exception as exc:  # a malformed envelope, or a registry that is closing
                    answers.put((number, exc))
                    continue
                queued.add_done_callback(lambda done, n=number: answers.put((n, done)))  # type: ignore[misc]
        except OSError:  # ConnectionError included: the worker went away or broke the framing
            pass
        finally:
            answers.put(None)

    def _answer(self, conn: socket.socket, answers: queue.SimpleQueue[tuple[int, Any] | None]) -> None:
        with conn:
            while (item := answers.get()) is not None:
                number, outcome = item
                data = self._answer_bytes(outcome)
                try:
                    conn.sendall(HEADER.pack(number, len(data)) + data)
                except OSError:
                    return  # the worker went away: nobody is waiting for the rest

    def _answer_bytes(self, outcome: Future[Applied] | BaseException) -> bytes:
        """The pickled receipt (its proof reads the edge from the writer's memory) or error."""
        answer: Receipted | BaseException
        try:
            answer = self.node.receipted(outcome.result()) if isinstance(outcome, Future) else outcome
        except BaseException as exc:
            answer = exc
        if isinstance(answer, BaseException):
            answer = _sendable(answer)
        try:
            return pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an error holding something that does not pickle
            return pickle.dumps(RuntimeError(f"the writer could not send its answer ({answer!r}): {exc}"))


class _Connection:
    """One stream to the writer and the requests awaiting their answers on it."""

    def __init__(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        self.stream = stream
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.answers = asyncio.create_task(self._read_answers(reader))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        """Hand each answer to the request awaiting it; when the writer goes, fail the rest."""
        try:
            while True:
                number, length = HEADER.unpack(await reader.readexactly(HEADER.size))
                data = await reader.readexactly(length)
                answered = self.waiting.get(number)
                if answered is None or answered.done():
                    continue  # its request was cancelled (the client went away)
                try:
                    answered.set_result(pickle.loads(data))
                except Exception as exc:  # that answer alone is lost, not the connection
                    answered.set_result(RuntimeError(f"the writer's answer could not be read: {exc}"))
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            self.stream.close()
            gone = WriterUnavailableError("the writer closed its connection before answering")
            for answered in self.waiting.values():
                if not answered.done():
                    answered.set_result(gone)


class WriterClient:
    """An HTTP worker's connection to the writer process: submit an envelope, await its receipt.

    One connection per event loop (a server worker has one), opened on first use; many
    requests are in flight on it at once, told apart by their numbers.
    """

    def __init__(self, path: str, *, timeout: float = ANSWER_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._numbers = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: _Connection | None = None
        self._connecting: asyncio.Lock | None = None

    async def submit(self, envelope: Envelope) -> Receipted:
        """What ``registry.submit(envelope)`` returns in the writer, with its receipt; or raise
        what refused it there. Raises :class:`WriterUnavailableError` if the writer cannot be
        reached, goes away or does not answer within ``timeout`` seconds."""
        connection = await self._connected()
        number = next(self._numbers) & 0xFFFFFFFF  # the header's field; far fewer are ever in flight
        answered = asyncio.get_running_loop().create_future()
        connection.waiting[number] = answered
        body = json.dumps(envelope.to_json(), separators=(",", ":")).encode()
        try:
            connection.stream.write(HEADER.pack(number, len(body)) + body)
            async with asyncio.timeout(self.timeout):
                outcome = await answered
        except TimeoutError:
            raise WriterUnavailableError(f"the writer did not answer within {self.timeout:g} s") from None
        finally:
            connection.waiting.pop(number, None)
        if isinstance(outcome, BaseException):
            raise outcome
        if not isinstance(outcome, Receipted):
            raise WriterUnavailableError(f"the writer answered with a {type(outcome).__name__}")
        return outcome

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.stream.close()
            with suppress(OSError):
                await connection.stream.wait_closed()
            with suppress(asyncio.CancelledError):
                await connection.answers

    async def _connected(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A stream and a lock serve the loop that made them. A server worker has one loop;
            # a test client a loop per request, whose connection ends with it.
            self._loop, self._connection, self._connecting = loop, None, asyncio.Lock()
        assert self._connecting is not None
        async with self._connecting:
            if self._connection is None or self._connection.stream.is_closing():
                try:
                    reader, stream = await asyncio.open_unix_connection(self.path)
                except OSError as exc:
                    raise WriterUnavailableError(f"cannot reach the writer at {self.path}: {exc}") from None
                self._connection = _Connection(reader, stream)
            return self._connection


@contextmanager
def running(root: Path, database_url: str | None = None) -> Iterator[str]:
    """Run a writer process for the registry in ``root``; yield its socket's path.

    Raises :class:`WriterUnavailableError` with the writer's own output if it exits, or does
    not become ready within :data:`START_TIMEOUT`. On leaving, the writer commits what is
    queued and exits. It runs in a session of its own, so that a Ctrl-C meant for the server
    does not stop it while the HTTP workers still finish their requests.
    """
    directory = tempfile.mkdtemp(prefix="registry-writer-")  # 0700: only this user may connect
    path = os.path.join(directory, "socket")
    command = [sys.executable, "-m", __name__, str(root), path, database_url or ""]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _await_ready(process)
        yield path
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _await_ready(process: subprocess.Popen[bytes]) -> None:
    """Return once ``process`` says ``ready``; raise with what it said if it exits or hangs first."""
    said: list[bytes] = []

    def read_until_ready() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            said.append(line)
            if line.strip() == b"ready":
                return

    reading = threading.Thread(target=read_until_ready, daemon=True)
    reading.start()
    reading.join(START_TIMEOUT)
    if said and said[-1].strip() == b"ready":
        # Keep reading its output (witnessing warnings), so that the writer never blocks on a full pipe.
        threading.Thread(target=_relay, args=(process.stdout,), daemon=True).start()
        return
    process.kill()
    reading.join(5)
    output = b"".join(said).decode(errors="replace").strip() or "no output"
    raise WriterUnavailableError(f"the writer did not start (exit status {process.poll()}): {output}")


def _relay(output: IO[bytes]) -> None:
    """Copy the writer's output to this process's stderr, and go on reading if that fails."""
    for line in output:
        with suppress(OSError, ValueError):  # stderr closed: the line is dropped, the pipe still drains
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()


def main(argv: list[str]) -> None:
    root, path, database_url = argv
    parent = os.getppid()
    try:
        node = open_node(Path(root), database_url=database_url or None)
    except (DataDirError, LedgerError, RegistryError) as exc:
        raise SystemExit(str(exc)) from None  # the message alone: running() reports it
    heap.settle()  # as `registry serve` does: what is loaded now lives as long as the process
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT: when run by hand
        signal.signal(signum, lambda *_: stop.set())
    server = WriterServer(node, path)
    node.start_witnessing()  # only the writer pushes checkpoints to the witnesses
    print("ready", flush=True)
    try:
        server.serve(stop, parent)
    finally:
        node.close()  # commits what is queued
        with suppress(OSError):  # the directory too, if its maker is gone and cannot
            os.unlink(path)
            os.rmdir(os.path.dirname(path))


if __name__ == "__main__":
    main(sys.argv[1:])
