"""Intake of submitted envelopes: strict parsing and signature checks, off the writer's path.

Before an event reaches the sequencer's lock its payload is decoded (RFC 8785, strictly) and
every signature by a key the committed state knows is verified (Ed25519 over the DSSE PAE).
A few envelopes are checked on the calling thread, more on threads (Ed25519 releases the
GIL), and a large batch in worker processes, so that decoding and validation — which hold the
GIL — do not compete with the writer applying the previous batch. Either way an envelope is
checked in the same order, so it is refused for the same reason: a malformed payload, then a
field the event model refuses, then a bad signature.

Checking starts at once and is collected later (:meth:`Intake.start`), so a writer can check
its next batch while it commits this one. The worker processes are driven over a pipe each,
by the thread that starts and collects the checks: no executor thread stands between them,
because a thread of the writer's process would wait for the interpreter while the writer
applies events (a hand-over can take the whole switch interval, 5 ms).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any, cast

from sqlalchemy.engine import Engine

from ledger.dsse import Envelope
from registry import authority
from registry.errors import InvalidEventError, RegistryError, UnauthorisedError
from registry.events import AnyEvent, decode_payload, validate_event
from registry.statements import PAYLOAD_TYPE

INLINE_BATCH = 64
"""Batches smaller than this are checked on the calling thread: handing a few envelopes to
other threads cost more (in thread wake-ups) than checking them (about 0.2 ms each)."""

PROCESS_BATCH = 256
"""Batches at least this large are checked in worker processes (started on first use)."""

Checked = tuple[str, Any, Any]
"""What a worker returns for one envelope, in picklable values: ("ok", event, verified key
ids) or ("refused", the InvalidEventError or UnauthorisedError, None)."""


@dataclass(frozen=True)
class Prepared:
    """An envelope whose payload parsed and whose known signers' signatures verified."""

    envelope: Envelope
    event: AnyEvent
    verified: dict[str, bytes]


def check(envelope: Envelope, known: Mapping[str, bytes]) -> Checked:
    """Decode and validate the payload, then verify the signatures by ``known`` keys (keyid → public key)."""
    try:
        if envelope.payload_type != PAYLOAD_TYPE:
            raise InvalidEventError("payloadType", f"must be {PAYLOAD_TYPE!r}, got {envelope.payload_type!r}")
        event = validate_event(decode_payload(envelope.payload))
        verified = authority.verify_signatures(envelope, lambda _ids: known)
    except (InvalidEventError, UnauthorisedError) as exc:
        return ("refused", exc, None)
    return ("ok", event, list(verified))


def check_all(envelopes: Sequence[Envelope], known: Mapping[str, bytes]) -> list[Checked]:
    """:func:`check` for each envelope (one task of a worker)."""
    return [check(envelope, known) for envelope in envelopes]


class Checking:
    """The checks of one batch, under way; :meth:`result` waits for them."""

    def __init__(
        self, envelopes: Sequence[Envelope], known: Mapping[str, bytes], collect: Callable[[], list[Checked]]
    ) -> None:
        self._envelopes = envelopes
        self._known = known
        self._collect: Callable[[], list[Checked]] | None = collect
        self._result: list[Prepared | RegistryError] | BaseException = []

    def result(self) -> list[Prepared | RegistryError]:
        """Each envelope parsed and checked, or the error that refuses it, in order.

        Raises, every time it is called, what a check raised unexpectedly (a check refuses
        an envelope by returning its error, not by raising it).
        """
        if self._collect is not None:
            collect, self._collect = self._collect, None
            try:
                results = collect()
            except BaseException as exc:
                self._result = exc
                raise
            self._result = [
                _prepared(envelope, result, self._known)
                for envelope, result in zip(self._envelopes, results, strict=True)
            ]
        if isinstance(self._result, BaseException):
            raise self._result
        return self._result


class Intake:
    """Checks submitted envelopes against the committed key state, on threads or processes."""

    def __init__(self, engine: Engine, workers: int = 2) -> None:
        self.engine = engine
        self.workers = max(1, workers)
        self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="intake")
        self._processes = _Processes(self.workers)  # started on first use
        # A keyid is a digest of its public key (DSSE keyid, registry.authority), so a key once
        # read never changes: only whether it is bound and live does, which the writer checks
        # under its lock (authority.authorise). Keys not bound (yet) are looked up every time.
        self._keys: dict[str, bytes] = {}

    def close(self) -> None:
        self._threads.shutdown()
        self._processes.close()

    def prepare(self, envelopes: Sequence[Envelope]) -> list[Prepared | RegistryError]:
        """Each envelope parsed and checked, or the error that refuses it, in order."""
        return self.start(envelopes).result()

    def start(self, envelopes: Sequence[Envelope]) -> Checking:
        """Start checking ``envelopes``: a large batch is checked while the caller goes on.

        Collect every :class:`Checking` (call its ``result``), even one no longer wanted:
        until then the worker processes stay reserved for it, and other batches are checked
        on threads.
        """
        keyids = {k for envelope in envelopes for k in envelope.keyids}
        if missing := keyids.difference(self._keys):
            with self.engine.connect() as conn:
                self._keys.update(authority.bound_keys(conn)(missing))
        known = {k: self._keys[k] for k in keyids if k in self._keys}
        if len(envelopes) < INLINE_BATCH:
            results = check_all(envelopes, known)
            return Checking(envelopes, known, lambda: results)
        if len(envelopes) >= PROCESS_BATCH and (collect := self._processes.send(envelopes, known)) is not None:
            return Checking(envelopes, known, collect)
        # One task per thread, not per envelope: hand-offs cost more than they save.
        size = -(-len(envelopes) // self.workers)
        futures = [
            self._threads.submit(check_all, envelopes[i : i + size], known) for i in range(0, len(envelopes), size)
        ]
        return Checking(envelopes, known, lambda: [r for future in futures for r in future.result()])


class _Processes:
    """Worker processes (spawned), each with a pipe of its own, sharing a batch by chunks.

    Every worker is sent the whole batch, then one token per chunk goes into a pipe that the
    workers share, and each worker takes tokens (a byte, the chunk's number) until none is
    left; the thread that collects the batch takes them too, once it has nothing else to do.
    So the batch is done when its last chunk is, whichever worker was slowed (two workers and
    a writer on two cores: the scheduler runs one of the three at half speed). A token is
    read whole or not at all, and a worker that dies holds no lock. Each worker answers with
    the chunks it checked; a chunk that no answer holds — its worker died — is checked by the
    collector, and fresh workers are started for the next batch. One batch has the workers at
    a time: :meth:`send` reserves them and the collect function it returns frees them.
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._reserved = threading.Lock()
        self._workers: list[tuple[BaseProcess, Connection]] = []
        self._tokens: tuple[Connection, Connection] | None = None  # (read end, write end)

    def send(self, envelopes: Sequence[Envelope], known: Mapping[str, bytes]) -> Callable[[], list[Checked]] | None:
        """Hand the batch to the workers and return the function that collects the results, in
        order; None (nothing sent) if another batch has the workers.

        The workers change (start, stop) only while a batch holds them, so the workers and
        pipes a batch was sent to are the ones its collector reads.
        """
        size = _chunk_size(len(envelopes))
        task = ForkingPickler.dumps((envelopes, known, size))  # pickled once for all the workers
        if not self._reserved.acquire(blocking=False):
            return None
        try:
            if not self._workers:
                self._start()
            assert self._tokens is not None
            # The tokens first, so that no worker finds the pipe empty before they are there.
            os.write(self._tokens[1].fileno(), bytes(range(-(-len(envelopes) // size))))
            sent = [_send(conn, task) for _, conn in self._workers]
        except BaseException:
            self._stop()  # tokens or tasks may be left that no one will read
            self._reserved.release()
            raise
        return lambda: self._collect(envelopes, known, size, sent)

    def close(self) -> None:
        """Stop the workers (they also stop by themselves when this process ends).

        Waits (a minute at most) for a batch that holds them to be collected.
        """
        reserved = self._reserved.acquire(timeout=60)
        try:
            self._stop()
        finally:
            if reserved:
                self._reserved.release()

    def _collect(
        self, envelopes: Sequence[Envelope], known: Mapping[str, bytes], size: int, sent: list[bool]
    ) -> list[Checked]:
        chunks: dict[int, list[Checked]] = {}
        failure: Exception | None = None
        try:
            assert self._tokens is not None
            for chunk in _tokens(self._tokens[0]):  # help with what is left
                try:
                    chunks[chunk] = check_all(_chunk(envelopes, chunk, size), known)
                except Exception as exc:  # raised below, once every answer is read
                    failure = failure or exc
            answers = [_receive(conn) if ok else None for (_, conn), ok in zip(self._workers, sent, strict=True)]
            if None in answers:
                self._stop()  # a worker died: the next batch starts new ones
        except BaseException:
            self._stop()  # answers may be left in the pipes: no later batch may read them
            raise
        finally:
            self._reserved.release()  # only now: the workers and pipes are settled
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            chunks.update(answer or {})
        if failure is not None:
            raise failure
        results: list[Checked] = []
        for chunk in range(-(-len(envelopes) // size)):
            part = chunks.get(chunk)
            results.extend(part if part is not None else check_all(_chunk(envelopes, chunk, size), known))
        return results

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._tokens = context.Pipe(duplex=False)
        os.set_blocking(self._tokens[0].fileno(), False)  # an empty pipe: no chunk left
        for _ in range(self._count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, self._tokens[0]), name="intake", daemon=True)
            process.start()
            theirs.close()
            self._workers.append((process, ours))

    def _stop(self) -> None:
        workers, self._workers = self._workers, []
        for process, conn in workers:
            if _send(conn, None):
                process.join(timeout=5)
            conn.close()
            if process.is_alive():
                process.kill()
                process.join()
        if self._tokens is not None:
            for end in self._tokens:
                end.close()
            self._tokens = None


CHUNK = 16
"""Envelopes in a chunk of a batch checked by the workers (about 2 ms of work): small enough
that the last chunk keeps no one waiting long, large enough that taking one costs nothing."""


def _chunk_size(count: int) -> int:
    """:data:`CHUNK`, or more for a batch so large that its chunks would not be numbered by a byte."""
    return max(CHUNK, -(-count // 256))


def _chunk(envelopes: Sequence[Envelope], chunk: int, size: int) -> Sequence[Envelope]:
    """Chunk number ``chunk`` of a batch cut in chunks of ``size``."""
    return envelopes[chunk * size : (chunk + 1) * size]


def _tokens(tokens: Connection) -> Iterator[int]:
    """Take chunk numbers from the shared token pipe until it is empty."""
    while True:
        try:
            token = os.read(tokens.fileno(), 1)
        except BlockingIOError:
            return
        if not token:
            return
        yield token[0]


def _serve(conn: Connection, tokens: Connection) -> None:
    """A worker process: check chunks of each batch that arrives, until told to stop (None)
    or the pipe closes; answer with the chunks it checked, by number."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        envelopes, known, size = task
        answer: dict[int, list[Checked]] | BaseException
        try:
            answer = {chunk: check_all(_chunk(envelopes, chunk, size), known) for chunk in _tokens(tokens)}
        except Exception as exc:  # raised again where the batch is collected
            answer = exc
        try:
            conn.send(answer)
        except OSError:  # the writer is gone, or stopped waiting for this answer
            return
        except Exception as exc:  # an answer that does not pickle: say so instead
            if not _send(conn, RuntimeError(f"an intake worker could not send its answer: {exc!r}")):
                return


def _send(conn: Connection, message: object) -> bool:
    """Send ``message`` (bytes are sent as they are); False if the worker at the other end is gone."""
    try:
        if isinstance(message, bytes | memoryview):
            conn.send_bytes(message)
        else:
            conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
        return False
    return True


def _receive(conn: Connection) -> dict[int, list[Checked]] | BaseException | None:
    """The worker's answer, or None if it died before giving one (or gave one that does not unpickle)."""
    try:
        return cast(dict[int, list[Checked]] | BaseException, conn.recv())
    except Exception:
        return None


def _prepared(envelope: Envelope, result: Checked, known: Mapping[str, bytes]) -> Prepared | RegistryError:
    outcome, first, second = result
    if outcome == "refused":
        return cast(RegistryError, first)
    return Prepared(envelope, first, {keyid: known[keyid] for keyid in second})
