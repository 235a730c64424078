"""The state a batch of events works on: committed rows read through caches, hot writes held back.

Group commit (DESIGN.md §3) only pays if an event costs little more than its log append, so
the events that make up most of the traffic — transfers, sales, retirements — neither read
nor write the database one row at a time:

- accounts, keys, projects and batches are read through a :class:`Cache` that outlives the
  batch; the blocks of a serial batch are loaded once into a :class:`BlockIndex` (sorted by
  first serial) and kept current as events split them;
- block changes and the append-only rows (events, movements, retirements) are held in the
  :class:`WorkingState` and written with one statement per table when the batch commits,
  in the same transaction as its log entries.

Rarer events (accounts, keys, projects, issuance, cancellation) write directly in a savepoint
and then drop the caches they could have made stale.

The cache is only trusted while its registry is the log's only writer: the service clears it
whenever the log head moved without it (another process appended) and whenever a batch's
transaction fails, commit included. An event that is refused is undone with :meth:`WorkingState.rollback_to`, which
restores the block indexes and drops its pending rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import sqlalchemy as sa
from sortedcontainers import SortedDict
from sqlalchemy.engine import Connection

from ledger.database import delete_rows, insert_rows, rows_with_keys, upsert_insert
from registry.errors import UnknownError
from registry.schema import (
    account_keys,
    accounts,
    batch_supply,
    batches,
    blocks,
    events,
    finding_units,
    findings,
    holder_totals,
    inventory_removals,
    movements,
    projects,
    retirements,
)
from registry.vocabulary import BlockStatus, Role, UnitType


class Block(NamedTuple):
    """Units ``first``..``last`` of one batch, in one state since log index ``since``."""

    first: int
    last: int
    batch: int
    holder: str | None
    status: BlockStatus
    since: int


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    role: Role
    name: str
    opened_at: int


@dataclass(frozen=True, slots=True)
class BoundKey:
    keyid: str
    account: str
    public_key: bytes
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class BatchInfo:
    number: int
    project: str
    vintage: int
    first: int
    last: int
    expires: dt.date | None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    supplier: str
    unit_type: UnitType


Stored = tuple[int, int, int, str | None, str, int]
"""A block as the index keeps it: (first, last, batch, holder, status, since). A tuple of plain
values is untracked by Python's cycle collector, so a million of them cost no collection time."""


class BlockIndex:
    """Every block of one serial batch by first serial, with the changes not yet stored."""

    def __init__(self, loaded: list[Block]) -> None:
        self._blocks = SortedDict((b.first, _stored(b)) for b in loaded)
        self._stored = {b.first for b in loaded}  # firsts of the rows in the database
        self._dirty: dict[int, Stored | None] = {}
        self._supply: dict[str, int] = {}  # units gained (or lost) per status since the last flush
        self._holdings: dict[tuple[str, str], int] = {}  # the same per (holder, status)

    def covering(self, first: int, last: int) -> list[Block]:
        """The blocks holding any of units ``first``..``last``, in serial order."""
        # Most moves start at a block's first unit and end inside that block: two dict lookups.
        # Otherwise key ranges only (irange): a positional lookup would rebuild the sorted
        # list's positional index after every split, at a cost that grows with the blocks.
        blocks = self._blocks
        stored = blocks.get(first)
        if stored is None:  # the last block starting before first, if any
            before = next(blocks.irange(maximum=first, reverse=True), None)
            stored = None if before is None else blocks[before]
        found = []
        if stored is not None and stored[1] >= first:
            found.append(_block(stored))
            if stored[1] >= last:
                return found
        for start in blocks.irange(first, last, inclusive=(False, True)):
            found.append(_block(blocks[start]))
        return found

    def all(self) -> list[Block]:
        return [_block(stored) for stored in self._blocks.values()]

    def put(self, first: int, stored: Stored | None, journal: list[Callable[[], None]]) -> None:
        """Make ``stored`` the block at ``first`` (None: no block starts there); journal the undo."""
        blocks, dirty = self._blocks, self._dirty
        before, dirty_before = blocks.get(first), dirty.get(first, _CLEAN)
        if before is not None:
            self._count(before, -1)
        if stored is not None:
            self._count(stored, 1)
            blocks[first] = stored
        elif before is not None:
            del blocks[first]
        dirty[first] = stored

        def undo() -> None:
            if stored is not None:
                self._count(stored, -1)
            if before is None:
                blocks.pop(first, None)
            else:
                self._count(before, 1)
                blocks[first] = before
            if dirty_before is _CLEAN:
                dirty.pop(first, None)
            else:
                dirty[first] = dirty_before  # type: ignore[assignment]

        journal.append(undo)

    def _count(self, stored: Stored, sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) the block's units in the supply and holder counts."""
        units = sign * (stored[1] - stored[0] + 1)
        supply, holdings = self._supply, self._holdings
        supply[stored[4]] = supply.get(stored[4], 0) + units
        if stored[3] is not None:  # the buffer pool is no account
            key = (stored[3], stored[4])
            holdings[key] = holdings.get(key, 0) + units

    def take_supply(self) -> dict[str, int]:
        """The units gained or lost per status since the last call (non-zero only)."""
        supply = {status: units for status, units in self._supply.items() if units}
        self._supply.clear()
        return supply

    def take_holdings(self) -> dict[tuple[str, str], int]:
        """The units gained or lost per (holder, status) since the last call (non-zero only)."""
        holdings = {key: units for key, units in self._holdings.items() if units}
        self._holdings.clear()
        return holdings

    def take_changes(self) -> tuple[list[int], list[Stored]]:
        """The firsts of stored rows to delete and the rows to insert; the index is then stored."""
        deletes = [first for first in self._dirty if first in self._stored]
        inserts = [stored for stored in self._dirty.values() if stored is not None]
        for first, stored in self._dirty.items():
            if stored is None:
                self._stored.discard(first)
            else:
                self._stored.add(first)
        self._dirty.clear()
        return deletes, inserts


def _stored(block: Block) -> Stored:
    return (block.first, block.last, block.batch, block.holder, block.status.value, block.since)


def _block(stored: Stored) -> Block:
    first, last, batch, holder, status, since = stored
    return Block(first, last, batch, holder, _STATUS[status], since)


_STATUS = {status.value: status for status in BlockStatus}


_CLEAN = object()


@dataclass
class Cache:
    """Rows read from committed state, kept across batches while their registry is the only writer."""

    accounts: dict[str, Account] = field(default_factory=dict)
    keys: dict[str, BoundKey] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    batches: dict[int, BatchInfo] = field(default_factory=dict)
    blocks: dict[int, BlockIndex] = field(default_factory=dict)
    counted: frozenset[str] | None = None
    """The projects whose removals some city inventory counts (registry.inventories); only an
    inventory changes it, so only an inventory (or a failed batch) drops it."""

    def clear(self) -> None:
        self.forget_rows()
        self.blocks.clear()
        self.counted = None

    def forget_rows(self) -> None:
        """Drop what a directly-written event could have changed (the block indexes stay)."""
        self.accounts.clear()
        self.keys.clear()
        self.projects.clear()
        self.batches.clear()

    def counted_projects(self, conn: Connection) -> frozenset[str]:
        """The projects that some inventory (current or revised) links a removal line to."""
        if self.counted is None:
            query = sa.select(inventory_removals.c.project).where(inventory_removals.c.project.is_not(None)).distinct()
            self.counted = frozenset(conn.execute(query).scalars())
        return self.counted


_TABLES = {table.name: table for table in (events, movements, retirements, findings, finding_units)}
APPEND_ONLY = tuple(_TABLES)


class WorkingState:
    """One transaction's view of the registry state: the database, the cache, and pending writes."""

    def __init__(self, conn: Connection, cache: Cache) -> None:
        self.conn = conn
        self.cache = cache
        self._journal: list[Callable[[], None]] = []
        self._pending: dict[str, list[dict[str, Any]]] = {name: [] for name in APPEND_ONLY}
        self._event_ids: dict[str, tuple[int, bytes] | None] = {}  # None: known not to be accepted

    # --- reads ---------------------------------------------------------------------------------

    def account(self, account_id: str, field_name: str) -> Account:
        """The account; raise :class:`UnknownError` naming ``field_name`` if there is none."""
        found = self.cache.accounts.get(account_id)
        if found is None:
            row = self.conn.execute(_ACCOUNT, {"id": account_id}).one_or_none()
            if row is None:
                raise UnknownError(field_name, "account", account_id)
            found = self.cache.accounts[account_id] = Account(row.id, Role(row.role), row.name, row.opened_at)
        return found

    def keys(self, keyids: Collection[str]) -> dict[str, BoundKey]:
        """The bound keys among ``keyids`` (revoked ones included, with their revocation index)."""
        missing = [k for k in keyids if k not in self.cache.keys]
        if missing:
            for row in self.conn.execute(sa.select(account_keys).where(account_keys.c.keyid.in_(missing))):
                self.cache.keys[row.keyid] = BoundKey(row.keyid, row.account, bytes(row.public_key), row.revoked_at)
        return {k: self.cache.keys[k] for k in keyids if k in self.cache.keys}

    def project(self, project_id: str, field_name: str) -> Project:
        """The project; raise :class:`UnknownError` naming ``field_name`` if there is none."""
        found = self.cache.projects.get(project_id)
        if found is None:
            row = self.conn.execute(_PROJECT, {"id": project_id}).one_or_none()
            if row is None:
                raise UnknownError(field_name, "project", project_id)
            found = self.cache.projects[project_id] = Project(row.id, row.supplier, UnitType(row.unit_type))
        return found

    def batch(self, number: int) -> BatchInfo | None:
        found = self.cache.batches.get(number)
        if found is None:
            row = self.conn.execute(_BATCH, {"number": number}).one_or_none()
            if row is None:
                return None
            found = self.cache.batches[number] = BatchInfo(
                row.number, row.project, row.vintage, row.first, row.last, row.expires
            )
        return found

    def blocks(self, batch: int) -> BlockIndex:
        """The block index of serial batch ``batch``, loaded on first use."""
        index = self.cache.blocks.get(batch)
        if index is None:
            rows = self.conn.execute(_BLOCKS, {"batch": batch})
            loaded = [Block(r.first, r.last, r.batch, r.holder, BlockStatus(r.status), r.since) for r in rows]
            index = self.cache.blocks[batch] = BlockIndex(loaded)
        return index

    def accepted_event(self, event_id: str) -> tuple[int, bytes] | None:
        """(log index, payload digest) of the event accepted with ``event_id``, if any."""
        if event_id in self._event_ids:
            return self._event_ids[event_id]
        row = self.conn.execute(_EVENT, {"id": event_id}).one_or_none()
        found = self._event_ids[event_id] = None if row is None else (row.idx, bytes(row.digest))
        return found

    def prefetch_events(self, event_ids: Collection[str]) -> None:
        """Look up many event ids in one query (a batch's idempotency checks)."""
        ids = [i for i in event_ids if i not in self._event_ids]
        self._event_ids.update(dict.fromkeys(ids))
        for event_id, index, digest in rows_with_keys(
            self.conn, f"SELECT id, idx, digest FROM {events.name}", "id", ids
        ):
            self._event_ids[event_id] = (index, bytes(digest))

    # --- writes --------------------------------------------------------------------------------

    def replace_blocks(
        self, found: list[Block], first: int, last: int, *, holder: str | None, status: BlockStatus, at: int
    ) -> None:
        """Put units ``first``..``last`` (covered exactly by ``found``) in a new state, splitting at the ends."""
        head, tail = found[0], found[-1]
        journal, index = self._journal, self.blocks(head.batch)
        batch = head.batch
        for block in found:  # every covered block goes, but for the starts rewritten below
            if block.first != first and block is not head:
                index.put(block.first, None, journal)
        if head.first < first:
            index.put(head.first, (head.first, first - 1, batch, head.holder, head.status.value, head.since), journal)
        index.put(first, (first, last, batch, holder, status.value, at), journal)
        if tail.last > last:
            index.put(last + 1, (last + 1, tail.last, batch, tail.holder, tail.status.value, tail.since), journal)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Insert ``row`` into the append-only ``table`` when the batch commits.

        An event row also answers later idempotency checks in the same batch.
        """
        if table == "reg_events":
            self._event_ids[row["id"]] = (row["idx"], row["digest"])
        rows = self._pending[table]
        rows.append(row)
        self._journal.append(lambda: self._drop_last(table))

    def _drop_last(self, table: str) -> None:
        row = self._pending[table].pop()
        if table == "reg_events":
            self._event_ids[row["id"]] = None

    def mark(self) -> int:
        return len(self._journal)

    def rollback_to(self, mark: int) -> None:
        """Undo every change made since ``mark`` (a refused event leaves nothing behind)."""
        while len(self._journal) > mark:
            self._journal.pop()()

    def flush(self) -> None:
        """Write the pending block changes and rows: one statement per table."""
        holdings: dict[tuple[str, str], int] = {}
        for number, index in self.cache.blocks.items():
            deletes, inserts = index.take_changes()
            if deletes:
                delete_rows(self.conn, blocks, blocks.c.first.name, deletes)
            if inserts:
                insert_rows(self.conn, blocks, inserts)
            if supply := index.take_supply():
                columns = batch_supply.c
                self.conn.execute(
                    batch_supply.update()
                    .where(columns.batch == number)
                    .values({status: columns[status] + units for status, units in supply.items()})
                )
            for key, units in index.take_holdings().items():
                holdings[key] = holdings.get(key, 0) + units
        add_holdings(self.conn, holdings)
        for name, rows in self._pending.items():
            if rows:
                _insert_many(self.conn, _TABLES[name], rows)
                rows.clear()
        self._journal.clear()


def add_holdings(conn: Connection, units: dict[tuple[str, str], int]) -> None:
    """Add ``units`` (gained, or lost if negative) to the holder totals, per (holder, status).

    A total that falls to zero loses its row, so the table is the same however the events
    were grouped into transactions (live, or replayed from the log).
    """
    changed = [{"holder": holder, "status": status, "units": n} for (holder, status), n in units.items() if n]
    if not changed:
        return
    conn.execute(_holdings_upsert(conn), changed)
    # Only a loss can bring a total to zero: look at those rows alone, by key.
    lost = [{"h": holder, "s": status} for (holder, status), n in units.items() if n < 0]
    if lost:
        conn.execute(_ZERO_HOLDING, lost)


def _holdings_upsert(conn: Connection) -> sa.Insert:
    # INSERT … ON CONFLICT (holder, status) DO UPDATE SET units = units + excluded.units,
    # built once per dialect.
    name = conn.dialect.name
    if name not in _UPSERTS:
        statement = upsert_insert(conn.engine, holder_totals)
        _UPSERTS[name] = statement.on_conflict_do_update(
            index_elements=[holder_totals.c.holder, holder_totals.c.status],
            set_={"units": holder_totals.c.units + statement.excluded.units},
        )
    return _UPSERTS[name]


_UPSERTS: dict[str, sa.Insert] = {}


_ZERO_HOLDING = holder_totals.delete().where(
    holder_totals.c.holder == sa.bindparam("h"), holder_totals.c.status == sa.bindparam("s"), holder_totals.c.units == 0
)


def _insert_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    # The hot tables take plain values (ints, strings, bytes), so they go to the driver's
    # executemany directly; the retirements' dates are left to SQLAlchemy's type handling.
    if table is retirements:
        conn.execute(table.insert(), rows)
        return
    columns = [c.name for c in table.columns]
    insert_rows(conn, table, [tuple(row[c] for c in columns) for row in rows])


_ACCOUNT = sa.select(accounts.c.id, accounts.c.role, accounts.c.name, accounts.c.opened_at).where(
    accounts.c.id == sa.bindparam("id")
)
_PROJECT = sa.select(projects.c.id, projects.c.supplier, projects.c.unit_type).where(
    projects.c.id == sa.bindparam("id")
)
_BATCH = sa.select(
    batches.c.number, batches.c.project, batches.c.vintage, batches.c.first, batches.c.last, batches.c.expires
).where(batches.c.number == sa.bindparam("number"))
_BLOCKS = sa.select(blocks).where(blocks.c.batch == sa.bindparam("batch")).order_by(blocks.c.first)
_EVENT = sa.select(events.c.idx, events.c.digest).where(events.c.id == sa.bindparam("id"))
