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
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
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

Task = tuple[Sequence[Envelope], Mapping[str, bytes]]


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
        # One task per worker, not per envelope: hand-offs cost more than they save.
        size = -(-len(envelopes) // self.workers)
        tasks = [(envelopes[i : i + size], known) for i in range(0, len(envelopes), size)]
        if len(envelopes) >= PROCESS_BATCH and (collect := self._processes.send(tasks)) is not None:
            return Checking(envelopes, known, collect)
        futures = [self._threads.submit(check_all, *task) for task in tasks]
        return Checking(envelopes, known, lambda: [r for future in futures for r in future.result()])


class _Processes:
    """Worker processes (spawned), each with a pipe of its own and at most one task in it.

    One batch has them at a time: :meth:`send` reserves them and the collect function it
    returns frees them. A worker that dies loses no envelope: its task is checked on the
    collecting thread, and fresh workers are started for the next batch.
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._reserved = threading.Lock()
        self._workers: list[tuple[BaseProcess, Connection]] = []

    def send(self, tasks: Sequence[Task]) -> Callable[[], list[Checked]] | None:
        """Hand each task to a worker and return the function that collects the answers, in
        task order; None (nothing sent) if another batch has the workers."""
        if not self._reserved.acquire(blocking=False):
            return None
        try:
            if len(self._workers) < len(tasks):
                self._start()
            sent = [_send(conn, task) for (_, conn), task in zip(self._workers, tasks, strict=False)]
        except BaseException:
            self._stop()  # some workers may hold a task whose answer no one will read
            self._reserved.release()
            raise
        return lambda: self._collect(tasks, sent)

    def close(self) -> None:
        """Stop the workers (they also stop by themselves when this process ends)."""
        self._stop()

    def _collect(self, tasks: Sequence[Task], sent: list[bool]) -> list[Checked]:
        try:
            answers = [_receive(conn) if ok else None for (_, conn), ok in zip(self._workers, sent, strict=False)]
        finally:
            self._reserved.release()
        if None in answers:
            self._stop()  # a worker died: the next batch starts new ones
        results: list[Checked] = []
        for task, answer in zip(tasks, answers, strict=True):
            if answer is None:
                results.extend(check_all(*task))
            elif isinstance(answer, BaseException):
                raise answer  # every answer is read first, so the pipes hold nothing stale
            else:
                results.extend(answer)
        return results

    def _start(self) -> None:
        self._stop()
        context = multiprocessing.get_context("spawn")
        for _ in range(self._count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs,), name="intake", daemon=True)
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


def _serve(conn: Connection) -> None:
    """A worker process: check the tasks that arrive until told to stop (None) or the pipe closes."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        answer: list[Checked] | BaseException
        try:
            answer = check_all(*task)
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
    """Send ``message``; False if the worker at the other end is gone."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
        return False
    return True


def _receive(conn: Connection) -> list[Checked] | BaseException | None:
    """The worker's answer, or None if it died before giving one (or gave one that does not unpickle)."""
    try:
        return cast(list[Checked] | BaseException, conn.recv())
    except Exception:
        return None


def _prepared(envelope: Envelope, result: Checked, known: Mapping[str, bytes]) -> Prepared | RegistryError:
    outcome, first, second = result
    if outcome == "refused":
        return cast(RegistryError, first)
    return Prepared(envelope, first, {keyid: known[keyid] for keyid in second})
