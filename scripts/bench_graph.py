"""Ownership-graph benchmark: claim checks, traces and the graph's memory on a registry of 1M blocks.

For each database, a registry is filled through its own event path until it holds the target
number of serial blocks (seeding transfers off the supplier's block, as scripts/bench_registry
does). Then a sample of the blocks is retired by their holders, a quarter of them after
travelling whole along a chain of 3-5 holders (so their paths are 6-8 steps deep), and the
project is issued a second time for an overlapping monitoring period; units of that second
batch are transferred and retired too, and an ``overlapping-issuance`` finding blocks every
claim on them. Then, in the same process:

- memory: the ownership graph (``Lineage(engine)`` + ``refresh()``) is built over the whole
  registry once for its time and RSS growth, and once more under tracemalloc for the bytes it
  holds; the limit is the raw size of a step's fields (8 fields of 8 bytes);
- latency: claim checks (``eligibility.check_retirement``) on every retirement in random
  order, traces (``Lineage.trace``) of random single units (held, retired, multi-hop) and of
  random whole blocks, each call timed on one reused connection (its transaction ended between
  calls, as a request ends it); the limit is one primary-key point query on ``reg_blocks`` on
  the same connection, p50. On PostgreSQL the tables are analysed first (see :func:`analyse`).

Each latency is printed as p50 and p99 (nearest rank) beside its ratio to the limit.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from bench_ledger import drop_schema, postgres_schema
from bench_registry import HOLDERS, ORIGIN, open_registry, submit, transfers
from sqlalchemy.engine import Connection, Engine

from ledger import dsse
from ledger.keys import SignerKey
from registry import commands, eligibility, heap
from registry.errors import BlockedByFindingsError
from registry.lineage import Lineage
from registry.node import Node
from registry.schema import batches, blocks, metadata, retirements
from registry.serials import SerialRange

STEP_BYTES = 8 * 8  # a step's fields (index, part, kind, batch, first, last, sender, receiver), 8 bytes each
MIB = 2**20
T = TypeVar("T")
CLAIM_P99_MS, TRACE_P99_MS, GIB_PER_MILLION = 20.0, 50.0, 1024.0  # the targets (MiB per million blocks)


@dataclass(frozen=True)
class Plan:
    blocks: int
    retirements: int  # of the first batch; a quarter of them travel first
    blocked: int  # retirements of the doubly issued batch
    traces: int  # traces of each kind of unit, and of whole blocks
    point_queries: int


FULL = Plan(blocks=1_000_000, retirements=2_000, blocked=200, traces=1_000, point_queries=2_000)
QUICK = Plan(blocks=50_000, retirements=500, blocked=50, traces=300, point_queries=1_000)


@dataclass(frozen=True)
class Filled:
    """What the registry was filled with: the two batches and the seeded blocks retired (by number)."""

    batch: SerialRange
    seeded: int  # blocks of 3 units moved off the front of ``batch`` (bench_registry.transfers)
    retired: list[int]  # retired where they were seeded
    travelled: list[int]  # moved along 3-5 holders, then retired
    second: SerialRange  # the doubly issued batch: claims on it are blocked


def block_units(batch: SerialRange, n: int) -> SerialRange:
    """Seeding transfer ``n`` (bench_registry.transfers) moved units 1+3n..3+3n to HOLDERS[n % 10]."""
    return batch.sub(1 + 3 * n, 3 + 3 * n)


# --- filling the registry ----------------------------------------------------------------------


def seed(node: Node, keys: dict[str, SignerKey], batch: SerialRange, target: int, db: str) -> int:
    """Transfer off the supplier's block until the registry holds ``target`` blocks; return the transfers."""
    seeded = 0
    while seeded < target - 1:  # each transfer adds one block; the issuance made the first
        count = min(10_000, target - 1 - seeded)
        submit(node, transfers(batch, seeded, count, keys["supplier"]))
        seeded += count
        print(f"  {db}: {seeded + 1:,} blocks", file=sys.stderr, end="\r")
    return seeded


def retire_sample(
    node: Node, keys: dict[str, SignerKey], batch: SerialRange, seeded: int, plan: Plan, *, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Retire ``plan.retirements`` seeded blocks (half whole, half their first unit), a quarter after 3-5 hops.

    Returns the blocks retired where they were seeded, and those that travelled first.
    """
    chosen = rng.sample(range(seeded), plan.retirements)
    travelled = chosen[: plan.retirements // 4]
    holder = {n: HOLDERS[n % len(HOLDERS)] for n in chosen}
    hops: list[list[tuple[commands.Command, str]]] = [[] for _ in range(5)]
    for n in travelled:
        for hop in range(rng.randint(3, 5)):
            receiver = rng.choice([h for h in HOLDERS if h != holder[n]])
            hops[hop].append((commands.transfer(ORIGIN, holder[n], receiver, str(block_units(batch, n))), holder[n]))
            holder[n] = receiver
    retiring = [
        (_retirement(holder[n], block_units(batch, n) if i % 2 else batch.sub(1 + 3 * n, 1 + 3 * n)), holder[n])
        for i, n in enumerate(chosen)
    ]
    submit(node, _signed([move for hop in hops for move in hop] + retiring, keys))
    return chosen[len(travelled) :], travelled


def issue_again(node: Node, keys: dict[str, SignerKey], count: int) -> SerialRange:
    """Issue the project again for an overlapping period; ``count`` 3-unit blocks of it go to holders, who retire them.

    Returns the new batch. The second issuance raises an ``overlapping-issuance`` finding on the whole new batch, so
    every claim check on these retirements must be refused.
    """
    issuance = commands.issue(
        ORIGIN,
        project="bench",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2028-07-01", "2029-06-30"),
        vintage=2028,
        quantity=3 * count,
        report_sha256="11" * 32,
    )
    submit(node, [commands.sign(issuance, [keys["supplier"], keys["verifier"]])])
    with node.engine.connect() as conn:
        row = conn.execute(sa.select(batches).order_by(batches.c.number.desc()).limit(1)).one()
    second = SerialRange(row.project, row.vintage, row.number, row.first, row.last)
    moves, retiring = [], []
    for n in range(count):
        units, holder = second.sub(second.first + 3 * n, second.first + 3 * n + 2), HOLDERS[n % len(HOLDERS)]
        moves.append((commands.transfer(ORIGIN, "supplier", holder, str(units)), "supplier"))
        retiring.append((_retirement(holder, units), holder))
    submit(node, _signed(moves + retiring, keys))
    return second


def _retirement(holder: str, units: SerialRange) -> commands.Command:
    return commands.retire(ORIGIN, holder, str(units), "compensation", "FI", beneficiary_name="Bench Oy", year=2029)


def _signed(made: list[tuple[commands.Command, str]], keys: dict[str, SignerKey]) -> list[dsse.Envelope]:
    return [commands.sign(command, [keys[signer]]) for command, signer in made]


def analyse(engine: Engine) -> None:
    """Gather the planner's statistics on the registry's tables, as autovacuum would have by now.

    The benchmark server runs with ``autovacuum = off``; without statistics the planner reads
    the ownership graph's new steps (``Lineage.refresh``) by a sequential scan.
    """
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {', '.join(table.name for table in metadata.sorted_tables)}")


# --- measuring ---------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def build_graph(engine: Engine) -> tuple[Lineage, float, int]:
    """The ownership graph of the whole registry; the seconds its build took and the RSS it added."""
    gc.collect()
    before = rss_bytes()
    began = time.perf_counter()
    lineage = Lineage(engine)
    lineage.refresh()
    took = time.perf_counter() - began
    return lineage, took, rss_bytes() - before


def traced_graph_bytes(engine: Engine) -> int:
    """The bytes a second, identical graph holds once built (tracemalloc: Python's own count)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    lineage = Lineage(engine)
    lineage.refresh()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del lineage
    return held


def timed_ms(conn: Connection, call: Callable[[T], object], each: Sequence[T], warm_up: int = 20) -> list[float]:
    """The wall time in ms of ``call`` on each of ``each``, on ``conn``.

    The transaction on ``conn`` is ended after each call (not timed), as a request's is.
    """
    for arg in each[:warm_up]:
        call(arg)
        conn.rollback()
    taken = []
    for arg in each:
        began = time.perf_counter()
        call(arg)
        taken.append((time.perf_counter() - began) * 1000)
        conn.rollback()
    return taken


def p(values: list[float], q: float) -> float:
    """The ``q`` quantile by nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Table:
    """Rows of the printed table for one database."""

    def __init__(self, db: str, blocks: int) -> None:
        self.db, self.blocks = db, blocks

    def row(self, figure: str, value: str, ratio: float | None = None, target: str = "") -> None:
        shown = f"{ratio:>8.1f}" if ratio is not None else " " * 8
        print(f"{self.db:<11} {self.blocks:>10,}  {figure:<38} {value:>13}  {shown}  {target}".rstrip())

    def latency(self, figure: str, taken: list[float], limit: float, target: float | None = None) -> None:
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            value = p(taken, q)
            verdict = f"<= {target:g} ms: {'met' if value <= target else 'MISSED'}" if target and q > 0.5 else ""
            self.row(f"{figure} {name}", f"{value:.3f} ms", value / limit, verdict)


def measure(node: Node, plan: Plan, filled: Filled, db: str) -> None:
    rng = random.Random(11)
    engine = node.engine
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(blocks)).scalar_one()
    table = Table(db, count)

    lineage, took, rss = build_graph(engine)
    steps = len(lineage)
    held = traced_graph_bytes(engine)
    per_million = held / count * 1_000_000 / MIB
    verdict = f"<= 1 GiB: {'met' if per_million <= GIB_PER_MILLION else 'MISSED'}"
    table.row("graph steps", f"{steps:,}")
    table.row("graph build", f"{took:.1f} s")
    table.row("graph bytes per step (tracemalloc)", f"{held / steps:,.0f} B", held / steps / STEP_BYTES)
    table.row("graph RSS growth per step", f"{rss / steps:,.0f} B", rss / steps / STEP_BYTES)
    table.row("graph MiB per million blocks", f"{per_million:,.0f} MiB", None, verdict)

    with engine.connect() as conn:
        retired = list(conn.execute(sa.select(retirements.c.idx, retirements.c.batch)))
        picked = conn.execute(
            sa.select(blocks.c.first, blocks.c.last, blocks.c.batch, batches.c.project, batches.c.vintage)
            .join(batches, batches.c.number == blocks.c.batch)
            .order_by(sa.func.random())
            .limit(plan.traces)
        ).all()
    rng.shuffle(retired)
    point = sa.select(blocks).where(blocks.c.first == sa.bindparam("first"))
    firsts = [block_units(filled.batch, rng.randrange(filled.seeded)).first for _ in range(plan.point_queries)]
    units = [
        filled.batch.sub(u, u)
        for u in [1 + rng.randrange(3 * filled.seeded) for _ in range(plan.traces)]
        + [1 + 3 * rng.choice(filled.retired) for _ in range(plan.traces)]
        + [1 + 3 * rng.choice(filled.travelled) + rng.randrange(3) for _ in range(plan.traces)]
    ]
    rng.shuffle(units)
    whole = [SerialRange(b.project, b.vintage, b.batch, b.first, b.last) for b in picked]

    with engine.connect() as conn:
        outcomes: dict[int, bool] = {}  # log index: whether the claim check refused it
        lengths: list[int] = []

        def point_query(first: int) -> None:
            conn.execute(point, {"first": first}).one()

        def check(index: int) -> None:
            try:
                eligibility.check_retirement(conn, lineage, index)
                outcomes[index] = False
            except BlockedByFindingsError:
                outcomes[index] = True

        def trace(serial: SerialRange) -> None:
            lengths.append(len(lineage.trace(conn, serial)))

        limit_ms = timed_ms(conn, point_query, firsts)
        claims = timed_ms(conn, check, [r.idx for r in retired])
        wrong = [r.idx for r in retired if outcomes[r.idx] != (r.batch == filled.second.batch)]
        if wrong:
            raise SystemExit(f"claim check gave the wrong outcome for retirements at {wrong[:5]}")
        unit_ms = timed_ms(conn, trace, units)
        unit_lengths = lengths[-len(units) :]  # after the warm-up
        block_ms = timed_ms(conn, trace, whole)
    limit = statistics.median(limit_ms)
    passed = [ms for r, ms in zip(retired, claims, strict=True) if r.batch != filled.second.batch]
    blocked = [ms for r, ms in zip(retired, claims, strict=True) if r.batch == filled.second.batch]

    table.row("pk point query p50 (limit)", f"{limit:.3f} ms", 1.0)
    table.latency(f"claim check, all {len(claims):,}", claims, limit, CLAIM_P99_MS)
    table.latency(f"claim check, passed {len(passed):,}", passed, limit)
    table.latency(f"claim check, blocked {len(blocked):,}", blocked, limit)
    table.latency(f"trace unit, {len(units):,}", unit_ms, limit, TRACE_P99_MS)
    table.row("trace unit steps (median, max)", f"{statistics.median(unit_lengths):.0f}, {max(unit_lengths)}")
    table.latency(f"trace block, {len(whole):,}", block_ms, limit, TRACE_P99_MS)


def run(db: str, plan: Plan) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        schema, url = postgres_schema() if db == "postgresql" else (None, None)
        try:
            node, keys, batch = open_registry(Path(tmp) / "registry", url)
            seeded = seed(node, keys, batch, plan.blocks, db)
            retired, travelled = retire_sample(node, keys, batch, seeded, plan, rng=rng)
            filled = Filled(batch, seeded, retired, travelled, issue_again(node, keys, plan.blocked))
            print(" " * 40, file=sys.stderr, end="\r")
            if db == "postgresql":
                analyse(node.engine)
            heap.settle()  # as `registry serve` does once the registry is loaded (the graph is built later)
            measure(node, plan, filled, db)
            node.close()
        finally:
            if schema:
                drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 blocks instead of 1,000,000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    print(
        "limits: latency, one primary-key point query on reg_blocks (p50, same connection, same run); "
        f"memory, a step's fields ({STEP_BYTES} B)"
    )
    print(
        f"targets: claim check p99 <= {CLAIM_P99_MS:g} ms; trace p99 <= {TRACE_P99_MS:g} ms; "
        "graph <= 1 GiB per million blocks"
    )
    print(f"{'database':<11} {'blocks':>10}  {'figure':<38} {'value':>13}  {'ratio':>8}  target")
    for db in args.databases.split(","):
        run(db, plan)


if __name__ == "__main__":
    main()
