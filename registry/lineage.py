"""The ownership graph: every step that moved units, linked to the steps the units came from.

Each row of ``reg_movements`` — an issuance, a transfer, a sale, a retirement, a cancellation
of a range of serials — is a node of a :mod:`networkx` directed graph, and an edge runs to it
from each earlier step that had put (part of) those units where they were: the ``since`` of
the blocks it moved, which the handlers record as the row's ``parents``. Following the edges
backwards from the step that last touched a unit gives its whole path, from issuance through
every split, transfer and sale to its retirement (DESIGN.md §4, "The ownership graph").

The graph is built from the state tables (themselves rebuilt from the log) and kept current
by reading only the rows appended since the last read, so no request rebuilds it. To keep a
million steps well under a gigabyte, the steps' fields live in typed arrays indexed by node
number and the graph's nodes and edges carry no attribute dicts of their own;
:func:`attributed` builds an ordinary attributed graph for export (GraphML, JSON).
"""

from __future__ import annotations

import bisect
import io
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from registry.errors import RangeTooWideError, RecordNotFoundError
from registry.schema import batches, blocks, movements
from registry.serials import SerialRange

_KINDS = ("issuance", "buffer", "transfer", "sale", "retirement", "cancellation")


class _NoAttributes(dict[str, Any]):
    """The one attribute dict every node and edge shares: empty, and refusing to be filled."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError("the ownership graph keeps step fields in its arrays; use attributed() to annotate")

    def update(self, *args: Any, **kwargs: Any) -> None:
        if (args and args[0]) or kwargs:
            raise TypeError("the ownership graph keeps step fields in its arrays; use attributed() to annotate")


_NONE = _NoAttributes()


class _Graph(nx.DiGraph):  # type: ignore[type-arg]  # generic in the stubs only, not at run time
    """A DiGraph whose nodes and edges share one empty attribute dict (about 500 bytes a step saved)."""

    def node_attr_dict_factory(self) -> dict[str, Any]:
        return _NONE

    def edge_attr_dict_factory(self) -> dict[str, Any]:
        return _NONE


@dataclass(frozen=True)
class Step:
    """One step of a unit's path: the entry at ``index`` moved ``serial`` (part ``part`` of that entry)."""

    index: int
    part: int
    kind: str
    serial: SerialRange
    sender: str | None
    receiver: str | None
    parents: tuple[tuple[int, int], ...]
    """(index, part) of the steps the units came from."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "part": self.part,
            "kind": self.kind,
            "serial": str(self.serial),
            "from": self.sender,
            "to": self.receiver,
            "parents": [{"index": i, "part": p} for i, p in self.parents],
        }


class Lineage:
    """The ownership graph of one registry's state; thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._graph = _Graph()
        # Step fields by node number (nodes are numbered in (index, part) order).
        self._index = array("q")
        self._part = array("l")
        self._kind = array("b")
        self._batch = array("q")
        self._first = array("q")
        self._last = array("q")
        self._sender = array("l")
        self._receiver = array("l")
        self._names: list[str | None] = [None]
        self._codes: dict[str | None, int] = {None: 0}
        self._next = 0  # the first log index not yet read
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._index)

    def refresh(self, conn: Connection | None = None) -> int:
        """Read the steps appended since the last refresh; return how many there were.

        Reads through ``conn`` when given (a request's own connection, so that the graph and
        the blocks it is traced from are read at one moment, with one pooled connection).
        """
        if conn is None:
            with self._engine.connect() as own:
                return self.refresh(own)
        with self._lock:
            before = len(self._index)
            rows = conn.execute(
                sa.select(movements).where(movements.c.idx >= self._next).order_by(movements.c.idx, movements.c.part)
            )
            for row in rows:
                self._add(row)
            return len(self._index) - before

    def _add(self, row: Row[Any]) -> None:
        index, batch, first, last = row.idx, row.batch, row.first, row.last
        node = len(self._index)
        self._index.append(index)
        self._part.append(row.part)
        self._kind.append(_KINDS.index(row.kind))
        self._batch.append(batch)
        self._first.append(first)
        self._last.append(last)
        self._sender.append(self._code(row.sender))
        self._receiver.append(self._code(row.receiver))
        self._graph.add_node(node)
        for parent in row.parents.split():
            for earlier in self._at(int(parent)):
                if self._overlaps(earlier, batch, first, last):
                    self._graph.add_edge(earlier, node)
        self._next = index + 1

    def _code(self, name: str | None) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
        return code

    def _at(self, index: int) -> range:
        """The nodes of the entry at log index ``index`` (its parts, in order)."""
        start = bisect.bisect_left(self._index, index)
        end = bisect.bisect_right(self._index, index, lo=start)
        return range(start, end)

    def _overlaps(self, node: int, batch: int, first: int, last: int) -> bool:
        return self._batch[node] == batch and self._first[node] <= last and self._last[node] >= first

    # --- tracing -----------------------------------------------------------------------------

    def trace(self, conn: Connection, serial: SerialRange, *, max_blocks: int | None = None) -> list[Step]:
        """Every step that moved any unit of ``serial``, in log order, from its issuance on.

        Starts from the blocks that hold the units now (``conn``'s view of the state) and
        follows the graph back. Raises :class:`RecordNotFoundError` unless every unit was issued,
        and :class:`RangeTooWideError` if the units lie in more than ``max_blocks`` blocks (a
        bound on the work of one request: a whole batch split a million ways is a million steps).
        """
        self.refresh(conn)
        # Blocks tile their batch: the range starts in the last block starting at or before it.
        # Seek that block on the (batch, first) index rather than scan every block before it.
        start = conn.execute(
            sa.select(blocks.c.first)
            .where(blocks.c.batch == serial.batch, blocks.c.first <= serial.first)
            .order_by(blocks.c.first.desc())
            .limit(1)
        ).scalar_one_or_none()
        covering = (
            sa.select(blocks.c.first, blocks.c.last, blocks.c.since)
            .where(
                blocks.c.batch == serial.batch,
                blocks.c.first >= (serial.first if start is None else start),
                blocks.c.first <= serial.last,
            )
            .order_by(blocks.c.first)
        )
        current = conn.execute(covering if max_blocks is None else covering.limit(max_blocks + 1)).all()
        if max_blocks is not None and len(current) > max_blocks:
            raise RangeTooWideError(
                f"units {serial.first}-{serial.last} lie in more than {max_blocks} blocks: trace a narrower range",
                max_blocks,
            )
        covered = current and current[0].first <= serial.first and current[-1].last >= serial.last
        if not covered:  # blocks tile their batch: units outside every block were never issued
            raise RecordNotFoundError(
                f"units {serial.first}-{serial.last} were not all issued in batch {serial.batch}", "units"
            )
        with self._lock:
            start = [
                node
                for block in current
                for node in self._at(block.since)
                if self._overlaps(node, serial.batch, max(block.first, serial.first), min(block.last, serial.last))
            ]
            found = self._ancestors(start, serial)
            names: dict[int, tuple[str, int]] = {}
            return [self._step(conn, node, found, names) for node in sorted(found)]

    def _ancestors(self, start: Iterable[int], serial: SerialRange) -> set[int]:
        found: set[int] = set()
        stack = list(start)
        while stack:
            node = stack.pop()
            if node in found:
                continue
            found.add(node)
            stack.extend(
                parent
                for parent in self._graph.predecessors(node)
                if self._overlaps(parent, serial.batch, serial.first, serial.last)
            )
        return found

    def _step(self, conn: Connection, node: int, among: set[int], names: dict[int, tuple[str, int]]) -> Step:
        batch = self._batch[node]
        if batch not in names:
            row = conn.execute(sa.select(batches.c.project, batches.c.vintage).where(batches.c.number == batch)).one()
            names[batch] = (str(row.project), int(row.vintage))
        project, vintage = names[batch]
        parents = sorted(p for p in self._graph.predecessors(node) if p in among)
        return Step(
            index=self._index[node],
            part=self._part[node],
            kind=_KINDS[self._kind[node]],
            serial=SerialRange(project, vintage, batch, self._first[node], self._last[node]),
            sender=self._names[self._sender[node]],
            receiver=self._names[self._receiver[node]],
            parents=tuple((self._index[p], self._part[p]) for p in parents),
        )


def attributed(steps: Iterable[Step]) -> nx.DiGraph[str]:
    """An ordinary networkx graph of ``steps``, one node per step named "<index>.<part>", fields as attributes."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    for step in steps:
        name = f"{step.index}.{step.part}"
        graph.add_node(
            name,
            index=step.index,
            part=step.part,
            kind=step.kind,
            serial=str(step.serial),
            sender=step.sender or "",
            receiver=step.receiver or "",
        )
        for index, part in step.parents:
            graph.add_edge(f"{index}.{part}", name)
    return graph


def to_graphml(steps: Iterable[Step]) -> str:
    """The steps as a GraphML document (what graph tools such as Gephi and yEd read)."""
    document = io.BytesIO()
    nx.write_graphml(attributed(steps), document)  # with its XML declaration
    return document.getvalue().decode()


def to_json(steps: Iterable[Step]) -> dict[str, Any]:
    """The steps as node-link JSON: ``nodes`` (the steps) and ``edges`` (from a step to the one it fed)."""
    listed = list(steps)
    return {
        "nodes": [step.to_json() for step in listed],
        "edges": [
            {"from": {"index": i, "part": p}, "to": {"index": step.index, "part": step.part}}
            for step in listed
            for i, p in step.parents
        ],
    }


def sold_by(conn: Connection, at: int, serial: SerialRange, account: str) -> int | None:
    """The first log index at which ``account`` sold any unit of ``serial`` on its way to the step at ``at``.

    Walks the steps' ``parents`` back towards the issuance in the state tables (one primary-key
    lookup per step, so it stays cheap however many blocks the batch has) rather than the
    in-memory graph: the claim rules run while the log is applied, and replay must reach the
    same answer.
    """
    query = sa.select(movements.c.idx, movements.c.kind, movements.c.sender, movements.c.parents).where(
        movements.c.idx == sa.bindparam("step"),
        movements.c.batch == serial.batch,
        movements.c.first <= serial.last,
        movements.c.last >= serial.first,
    )
    sold: int | None = None
    seen: set[int] = set()
    stack = [at]
    while stack:
        step = stack.pop()
        if step in seen:
            continue
        seen.add(step)
        for row in conn.execute(query, {"step": step}):
            if row.kind == "sale" and row.sender == account:
                sold = step if sold is None else min(sold, step)
            stack.extend(int(parent) for parent in row.parents.split())
    return sold
