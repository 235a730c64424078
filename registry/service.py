"""The registry's write side: signed events in, state change and log entry out, together.

A write follows DESIGN.md §2: the payload is parsed strictly and its signatures verified
(outside the writer's lock, on worker threads for a batch), then under the sequencer's
lock each event is checked against current state and applied in a savepoint, its envelope
appended to the log in the same transaction, and a checkpoint signed once it commits.

Events submitted together share one transaction (group commit, DESIGN.md §3 "Batching"),
but each stands alone: an event that is refused writes nothing and does not disturb the
others.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.dsse import Envelope
from ledger.sequencer import Batch, Sequencer
from registry import authority, replay
from registry.errors import InvalidEventError, RegistryError
from registry.events import AnyEvent, parse_event
from registry.position import Position
from registry.schema import HEAD_ID, registry_head
from registry.state import Applied, apply_event, find_duplicate
from registry.statements import PAYLOAD_TYPE


@dataclass(frozen=True)
class _Prepared:
    envelope: Envelope
    event: AnyEvent
    verified: dict[str, bytes]


class Registry:
    """Accepts signed events for one log; thread-safe (the sequencer serialises batches)."""

    def __init__(self, engine: Engine, sequencer: Sequencer, *, workers: int = 2) -> None:
        self.engine = engine
        self.sequencer = sequencer
        self.origin = sequencer.origin
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="verify")
        replay.catch_up(sequencer)

    def close(self) -> None:
        self._pool.shutdown()

    def submit(self, envelope: Envelope) -> Applied:
        """Apply one event and append it; return its index once a checkpoint covers it.

        Raises the :class:`RegistryError` that refused it; a resubmission of an accepted
        event returns its original index with ``duplicate`` set and changes nothing.
        """
        (outcome,) = self.submit_many([envelope])
        if isinstance(outcome, RegistryError):
            raise outcome
        return outcome

    def submit_many(self, envelopes: Sequence[Envelope]) -> list[Applied | RegistryError]:
        """Apply events in order in one transaction; return each one's outcome, in order."""
        prepared = self._prepare(envelopes)
        outcomes: list[Applied | RegistryError] = []
        with self.sequencer.batch() as batch:
            conn = batch.connection
            replay.catch_up_in(conn, self.sequencer.store, self.origin, batch.start)
            for item in prepared:
                if isinstance(item, RegistryError):
                    outcomes.append(item)
                    continue
                try:
                    outcomes.append(self._apply(batch, item))
                except RegistryError as exc:
                    outcomes.append(exc)
            if batch.entries:
                conn.execute(
                    registry_head.update()
                    .where(registry_head.c.id == HEAD_ID)
                    .values(applied=batch.start + len(batch.entries))
                )
        return outcomes

    def _apply(self, batch: Batch, item: _Prepared) -> Applied:
        conn = batch.connection
        duplicate = find_duplicate(conn, item.event, item.envelope)
        if duplicate is not None:
            return duplicate
        at = Position(batch.start + batch.mark(), batch.logged_at)
        with conn.begin_nested():  # a refused event leaves nothing behind
            apply_event(
                conn, origin=self.origin, envelope=item.envelope, event=item.event, at=at, verified=item.verified
            )
            index = batch.append(item.envelope)
        assert index == at.index
        return Applied(index, item.event.id, item.event.type)

    def _prepare(self, envelopes: Sequence[Envelope]) -> list[_Prepared | RegistryError]:
        """Parse every payload and verify the signatures the committed key state can check."""
        parsed: list[tuple[Envelope, AnyEvent] | RegistryError] = []
        for envelope in envelopes:
            try:
                parsed.append((envelope, _parse(envelope)))
            except RegistryError as exc:
                parsed.append(exc)
        keyids = {k for item in parsed if not isinstance(item, RegistryError) for k in item[0].keyids}
        with self.engine.connect() as conn:
            known = authority.bound_keys(conn)(keyids) if keyids else {}

        def verify(item: tuple[Envelope, AnyEvent] | RegistryError) -> _Prepared | RegistryError:
            if isinstance(item, RegistryError):
                return item
            envelope, event = item
            try:
                return _Prepared(envelope, event, authority.verify_signatures(envelope, lambda _ids: known))
            except RegistryError as exc:
                return exc

        if len(parsed) == 1:
            return [verify(parsed[0])]
        return list(self._pool.map(verify, parsed))

    def applied(self, conn: Connection | None = None) -> int:
        """How many log entries the state reflects."""
        query = sa.select(registry_head.c.applied).where(registry_head.c.id == HEAD_ID)
        if conn is not None:
            return int(conn.execute(query).scalar_one())
        with self.engine.connect() as c:
            return int(c.execute(query).scalar_one())


def _parse(envelope: Envelope) -> AnyEvent:
    if envelope.payload_type != PAYLOAD_TYPE:
        raise InvalidEventError("payloadType", f"must be {PAYLOAD_TYPE!r}, got {envelope.payload_type!r}")
    return parse_event(envelope.payload)
