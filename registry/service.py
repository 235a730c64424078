"""The registry's write side: signed events in, state change and log entry out, together.

A write follows DESIGN.md §2: the payload is parsed strictly and its signatures verified
(outside the writer's lock; :mod:`registry.intake` chooses the threads), then under the sequencer's
lock each event is checked against current state (:mod:`registry.working`) and applied,
its envelope appended to the log in the same transaction, and a checkpoint signed once it
commits.

Events submitted together share one transaction (group commit, DESIGN.md §3 "Batching"),
but each stands alone: an event that is refused writes nothing and does not disturb the
others. Single events submitted at the same time (one per HTTP request) are gathered into
such batches too: they queue for the registry's committer thread, which checks and commits
everything that queued while the previous batch committed, so concurrent requests share one
transaction, one fsync and one signed checkpoint. A caller waits on a future, so an HTTP
request awaits its outcome without holding a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future
from contextlib import suppress

from sqlalchemy.engine import Engine

from ledger.database import pipelined
from ledger.dsse import Envelope
from ledger.errors import EntryError, PublishError
from ledger.sequencer import Batch, Sequencer
from registry import replay
from registry.errors import InvalidEventError, RegistryError, WriterUnavailableError
from registry.intake import Checking, Intake, Prepared
from registry.position import Position
from registry.schema import record_applied
from registry.state import Applied, apply_or_undo, find_duplicate
from registry.working import Cache, WorkingState

MAX_GROUP = 128
"""At most this many queued single submissions share one transaction (fewer than the intake
sends to worker processes: the committer checks a group and then commits it, so processes
would add their hand-offs and save nothing)."""


class Registry:
    """Accepts signed events for one log; thread-safe (the sequencer serialises batches)."""

    def __init__(self, engine: Engine, sequencer: Sequencer, *, workers: int = 2) -> None:
        self.engine = engine
        self.sequencer = sequencer
        self.origin = sequencer.origin
        self._intake = Intake(engine, workers)
        self._lock = threading.Lock()
        self._cache = Cache()
        self._known_size = -1  # the log size after this registry's last batch
        self._queue: list[tuple[Envelope, Future[Applied]]] = []  # single submissions for the committer
        self._queued = threading.Condition()  # guards _queue, _committer and _closing
        self._committer: threading.Thread | None = None  # started on the first single submission
        self._closing = False
        replay.catch_up(sequencer)

    def close(self) -> None:
        """Commit what is queued, stop the committer thread, and the intake's workers."""
        with self._queued:
            self._closing = True
            self._queued.notify()
            committer = self._committer
        if committer is not None:
            committer.join()
        self._intake.close()

    def submit(self, envelope: Envelope) -> Applied:
        """Apply one event and append it; return its index once a checkpoint covers it.

        Raises the :class:`RegistryError` that refused it; a resubmission of an accepted
        event returns its original index with ``duplicate`` set and changes nothing.
        Concurrent callers share a group commit (their events are applied in the order they
        queued, each standing alone); if the group's transaction fails, each of them gets
        that exception.
        """
        return self.enqueue(envelope).result()

    def enqueue(self, envelope: Envelope) -> Future[Applied]:
        """Queue ``envelope`` for the next group commit; the future holds what :meth:`submit` returns or raises.

        Raises :class:`WriterUnavailableError` once the registry is closed (nothing is queued).
        """
        outcome: Future[Applied] = Future()
        with self._queued:
            if self._closing:
                raise WriterUnavailableError("the registry is closed: it takes no more events")
            self._queue.append((envelope, outcome))
            if self._committer is None or not self._committer.is_alive():
                self._committer = threading.Thread(target=self._commit_queued, name="committer", daemon=True)
                self._committer.start()
            self._queued.notify()
        return outcome

    def _commit_queued(self) -> None:
        """The committer thread: check and commit what is queued, a group at a time, until closed.

        One thread does both, and the event loop of an HTTP server only queues: the fewer
        threads that want the interpreter, the less the committer waits for it back after
        each SQLite call. Every future taken from the queue is resolved, whatever fails.
        """
        while True:
            with self._queued:
                while not self._queue and not self._closing:
                    self._queued.wait()
                if not self._queue:
                    return
                taken, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            try:
                self._commit_group(taken)
            except BaseException as exc:  # handed to every caller not yet answered, each of whom raises it
                for _, future in taken:
                    if not future.done():
                        future.set_exception(exc)

    def _commit_group(self, taken: list[tuple[Envelope, Future[Applied]]]) -> None:
        # A caller that gave up before its group began (an HTTP client gone) is left out.
        group = [(envelope, future) for envelope, future in taken if future.set_running_or_notify_cancel()]
        checked = self._prepare_each([envelope for envelope, _ in group])
        valid: list[Prepared | RegistryError] = [item for item in checked if isinstance(item, Prepared)]
        outcomes = iter(self._commit(valid) if valid else [])  # nothing to write: no transaction
        for (_, future), item in zip(group, checked, strict=True):
            outcome = next(outcomes) if isinstance(item, Prepared) else item
            if isinstance(outcome, Applied):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

    def _prepare_each(self, envelopes: list[Envelope]) -> list[Prepared | BaseException]:
        """:meth:`_prepare`, but an unexpected failure refuses only the envelope that caused it."""
        try:
            return list(self._prepare(envelopes))
        except Exception:
            if len(envelopes) == 1:
                raise
        checked: list[Prepared | BaseException] = []
        for envelope in envelopes:
            try:
                checked.extend(self._prepare([envelope]))
            except Exception as exc:
                checked.append(exc)
        return checked

    def submit_many(self, envelopes: Sequence[Envelope]) -> list[Applied | RegistryError]:
        """Apply events in order in one transaction; return each one's outcome, in order."""
        return self._commit(self._prepare(envelopes))

    def submit_stream(
        self, batches: Iterable[Sequence[Envelope]]
    ) -> Generator[list[Applied | RegistryError], None, None]:
        """Like :meth:`submit_many` for each batch in turn, checking the next batch while this one commits."""
        checking: Checking | None = None
        try:
            for batch in batches:
                ready = checking.result() if checking is not None else None
                checking = self._intake.start(batch)  # after collecting: one batch has the workers at a time
                if ready is not None:
                    yield self._commit(ready)
            if checking is not None:
                ready, checking = checking.result(), None
                yield self._commit(ready)
        except BaseException:  # closed early, or failed: a batch keeps the workers until it is collected
            if checking is not None:
                with suppress(Exception):  # the error on its way out is the one to report
                    checking.result()
            raise

    def _commit(self, prepared: list[Prepared | RegistryError]) -> list[Applied | RegistryError]:
        """Apply prepared events under the sequencer's lock and commit them with their log entries."""
        outcomes: list[Applied | RegistryError] = []
        with self._lock:  # this registry's batches, and what it learns of their outcome, one at a time
            try:
                return self._commit_locked(prepared, outcomes)
            except PublishError:
                raise  # committed: the cache is right, only the checkpoint is late
            except BaseException:
                self._cache.clear()  # the transaction rolled back: the cache may hold rows it wrote
                self._known_size = -1
                raise

    def _commit_locked(
        self, prepared: list[Prepared | RegistryError], outcomes: list[Applied | RegistryError]
    ) -> list[Applied | RegistryError]:
        with self.sequencer.batch() as batch:
            if batch.start != self._known_size:
                self._cache.clear()  # another writer moved the log: what we cached may be stale
            try:
                state = WorkingState(batch.connection, self._cache)
                replay.catch_up_in(state, self.sequencer.store, self.origin, batch.start)
                state.prefetch_events([p.event.id for p in prepared if not isinstance(p, RegistryError)])
                for item in prepared:
                    if isinstance(item, RegistryError):
                        outcomes.append(item)
                        continue
                    try:
                        outcomes.append(self._apply(batch, state, item))
                    except RegistryError as exc:
                        outcomes.append(exc)
                size = batch.start + len(batch.entries)
                with pipelined(batch.connection):  # writes whose answers no one reads: one round trip
                    state.flush()
                    if batch.entries:
                        record_applied(batch.connection, size)
            except BaseException:
                self._known_size = -1
                raise
            self._known_size = size  # undone by _commit if the commit itself fails
        return outcomes

    def _apply(self, batch: Batch, state: WorkingState, item: Prepared) -> Applied:
        duplicate = find_duplicate(state, self.origin, item.event, item.envelope)
        if duplicate is not None:
            return duplicate
        at = Position(batch.start + batch.mark(), batch.logged_at)

        def append() -> None:
            try:
                index = batch.append(item.envelope)
            except EntryError as exc:  # the envelope fits a request but not, with its log time, an entry
                raise InvalidEventError("envelope", str(exc)) from exc
            if index != at.index:
                raise AssertionError("the log index of an event changed while it was applied")

        # A refused event leaves nothing behind: neither state nor a log entry.
        apply_or_undo(state, envelope=item.envelope, event=item.event, at=at, verified=item.verified, then=append)
        return Applied(at.index, item.event.id, item.event.type, entry=batch.entry(at.index))

    def _prepare(self, envelopes: Sequence[Envelope]) -> list[Prepared | RegistryError]:
        return self._intake.prepare(envelopes)
