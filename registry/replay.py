"""Replaying the log: the registry's state is a pure function of its entries (DESIGN.md §2).

:func:`catch_up_in` brings the state tables up to the log's head by applying, through the
same handlers as live writes, every entry they do not yet reflect; if the tables were made
for another layout (:data:`~registry.schema.STATE_VERSION`) they are dropped and rebuilt
from entry 0 first. :func:`rebuild` replays a whole log into an empty database, and
:func:`snapshot` reads every state table so that two states can be compared exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.entry import LogEntry
from ledger.errors import LedgerError
from ledger.sequencer import Sequencer
from ledger.store import LogStore
from registry import findings
from registry.errors import InvalidEventError, RegistryError, ReplayError, StateMismatchError
from registry.events import AnyEvent, parse_event
from registry.position import Position
from registry.schema import (
    HEAD_ID,
    STATE_TABLES,
    STATE_VERSION,
    create_state_tables,
    drop_state_tables,
    metadata,
    record_applied,
    registry_head,
)
from registry.state import apply_or_undo, find_duplicate
from registry.statements import PAYLOAD_TYPE
from registry.working import Cache, WorkingState

Progress = Callable[[int, int], None]


def apply_entry(state: WorkingState, origin: str, index: int, data: bytes) -> None:
    """Apply log entry ``index`` to ``state``.

    An entry the rules refuse — one appended around the registry, by a faulty or dishonest
    writer — is void: it changes no state, and it is recorded as a finding (registry.findings)
    that names it and what it broke. So the state stays a pure function of the log, whatever
    the log holds.
    """
    event: AnyEvent | None = None
    try:
        entry = LogEntry.decode(data)
        if entry.envelope.payload_type != PAYLOAD_TYPE:
            raise InvalidEventError("payloadType", f"{entry.envelope.payload_type!r} is not a registry event")
        event = parse_event(entry.envelope.payload)
        earlier = find_duplicate(state, origin, event, entry.envelope)
        if earlier is not None:
            findings.record_duplicate(state, index, event, earlier.index)
            return
        at = Position(index, entry.logged_at)
        apply_or_undo(state, envelope=entry.envelope, event=event, at=at, verified={})
    except (LedgerError, RegistryError) as exc:
        findings.record_void(state, index, event, exc)


def catch_up(sequencer: Sequencer) -> None:
    """Bring the state tables of ``sequencer``'s database up to its log head (under its lock)."""
    create_state_tables(sequencer.engine)
    with sequencer.batch() as batch:
        catch_up_in(WorkingState(batch.connection, Cache()), sequencer.store, sequencer.origin, batch.start)


def catch_up_in(state: WorkingState, store: LogStore, origin: str, size: int, progress: Progress | None = None) -> None:
    """Apply entries from the first one the state lacks up to ``size``, within the state's transaction."""
    conn = state.conn
    version, applied = conn.execute(
        sa.select(registry_head.c.version, registry_head.c.applied).where(registry_head.c.id == HEAD_ID)
    ).one()
    if version != STATE_VERSION:
        # A different table layout is migrated by rebuilding the projection from the log.
        drop_state_tables(conn)
        metadata.create_all(conn)
        conn.execute(registry_head.insert().values(id=HEAD_ID, version=STATE_VERSION, applied=0))
        applied = 0
    if applied >= size:
        return
    state.cache.clear()
    for index, data in store.iter_entries(start=applied):
        if index >= size:
            break
        apply_entry(state, origin, index, data)
        if progress is not None:
            progress(index + 1, size)
    state.flush()
    record_applied(conn, size)


def rebuild(
    entries: Iterable[tuple[int, bytes]],
    engine: Engine,
    origin: str,
    *,
    progress: Progress | None = None,
    total: int = 0,
) -> None:
    """Replay ``entries`` (from index 0, in order) into the empty database ``engine``."""
    create_state_tables(engine)
    with engine.begin() as conn:
        state = WorkingState(conn, Cache())
        count = 0
        for index, data in entries:
            if index != count:
                raise ReplayError(index, f"expected entry {count} next")
            apply_entry(state, origin, index, data)
            count += 1
            if count % 1024 == 0:
                state.flush()
                if progress is not None:
                    progress(count, total)
        state.flush()
        record_applied(conn, count)
    if progress is not None:
        progress(count, total)


def snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every state table, in primary-key order, for exact comparison."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    for table in STATE_TABLES:
        rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
        result[table.name] = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]
    return result


def verify_state(store: LogStore, origin: str, live: Engine, scratch: Engine, progress: Progress | None = None) -> int:
    """Replay ``store``'s log into the empty ``scratch`` database and compare with ``live``'s state.

    Returns how many entries were replayed. An entry the rules refuse (a signature by a key
    not bound at its index, say) is void and replays to a finding, which must be in the live
    state too. Raises :class:`StateMismatchError` naming the first table and row that differ.
    """
    size, _root = store.head()
    rebuild(store.iter_entries(), scratch, origin, progress=progress, total=size)
    with live.connect() as a, scratch.connect() as b:
        applied = a.execute(sa.select(registry_head.c.applied).where(registry_head.c.id == HEAD_ID)).scalar_one()
        if applied != size:
            raise StateMismatchError(registry_head.name, f"the state reflects {applied} entries; the log holds {size}")
        expected, found = snapshot(b), snapshot(a)
    for table in STATE_TABLES:
        rows, replayed = found[table.name], expected[table.name]
        for have, want in zip(rows, replayed, strict=False):
            if have != want:
                raise StateMismatchError(table.name, f"row {have} should be {want}")
        if len(rows) != len(replayed):
            raise StateMismatchError(table.name, f"{len(rows)} rows, the log replays to {len(replayed)}")
    return size
