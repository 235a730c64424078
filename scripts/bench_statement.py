"""City statement benchmark: a city's net-emissions statement with 10,000 claims on a registry of 100,000 blocks.

For each database, a registry is filled through its own event path (as scripts/bench_registry
fills it) with one city and everything its statement reports (registry.balance):

- a base-year inventory and an inventory for the year: GPC lines (one "NE"), removal lines, one
  of them linked to the city's own forest project;
- ``claims`` retirements for the city of credits of seven projects, each claimed (one in fifty
  only in part): permanent and temporary units (two expiry dates), CRCF and not (with and without
  a corresponding adjustment), five countries, six methods; a later import finds one project
  issued elsewhere, so its claims are blocked;
- units of the city's forest sold and retired for others (sold credits), units of an unlinked
  project inside the boundary sold (a warning), a reversal of one claimed project;
- retirements for the city left unclaimed: avoidance units, expired units, units not claimed.

Then seeding transfers (bench_registry.transfers) fill the registry to ``blocks`` serial blocks;
on PostgreSQL the tables are analysed (bench_graph.analyse). The statement is checked against
what was filled, term by term, before anything is timed. Then, on one reused connection (its
transaction ended between calls, as a request's is):

- the statement (``balance.statement``), p50 and p99 (nearest rank), and its ratio to
- the limit: the city's claim rows for the year alone, every row fetched (the statement must
  read each claim at least once; it reads a batch's facts once per batch), p50; beside it the
  same claims joined with their batches' and projects' columns on every row, for comparison;
- the statement's canonical JSON encoding (``ledger.canonical.encode``), and its size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from bench_graph import Table, analyse, p, timed_ms
from bench_ledger import drop_schema, postgres_schema
from bench_registry import BATCH, HOLDERS, ORIGIN, open_registry, sign_all, submit, transfers

from ledger import canonical, dsse
from ledger.keys import SignerKey
from registry import balance, commands, heap, queries
from registry.node import Node
from registry.schema import batches, blocks, claims, projects, registry_head
from registry.serials import SerialRange
from registry.state import Applied

STATEMENT_P99_MS = 200.0  # the target (issue 5)
CITY, YEAR = "city-turku", 2029
LOCATION = {"country": "FI", "subdivision": "FI-19", "municipality": "853"}  # the city's, and its projects'


@dataclass(frozen=True)
class Plan:
    blocks: int
    claims: int
    calls: int  # timed statements (and encodings), after 20 untimed


FULL = Plan(blocks=100_000, claims=10_000, calls=200)
QUICK = Plan(blocks=10_000, claims=1_000, calls=50)


@dataclass(frozen=True)
class Source:
    """A project whose credits are retired for the city and claimed: ``share`` claims in 100 are on it."""

    project: str
    method: str
    unit_type: str
    country: str
    share: int
    expires: str | None = None
    corresponding_adjustment: bool | None = None
    external_ids: tuple[str, ...] = ()
    buffer: int = 0


SOURCES = (
    Source("dac-is", "daccs", "permanent-removal", "IS", 25, buffer=1_000),  # reversed later
    Source("weathering-de", "enhanced-weathering", "permanent-removal", "DE", 20),
    Source("farm-fi", "soil-carbon", "carbon-farming-sequestration", "FI", 20, expires="2036-12-31"),
    Source("wood-se", "long-lived-wood-products", "carbon-storage-in-products", "SE", 15, expires="2040-12-31"),
    Source("peat-br", "wetland-peatland-restoration", "removal", "BR", 10, corresponding_adjustment=True),
    Source("selva-co", "afforestation-reforestation", "removal", "CO", 5),  # no adjustment: a contribution only
    # A later import finds it issued in Verra too: a blocking finding on its claims.
    Source(
        "mangrove-ke",
        "wetland-peatland-restoration",
        "removal",
        "KE",
        5,
        corresponding_adjustment=True,
        external_ids=("VCS 9999",),
    ),
)
CONTRIBUTION, BLOCKED = "selva-co", "mangrove-ke"
REVERSED = 50  # units of dac-is reversed, drawn from its buffer pool

EMISSIONS: list[dict[str, Any]] = [
    {"sector": "stationary-energy", "subsector": "residential buildings", "scope": 1, "tonnes": 180_000},
    {"sector": "stationary-energy", "subsector": "residential buildings", "scope": 2, "tonnes": 95_000},
    {"sector": "stationary-energy", "subsector": "commercial buildings", "scope": 2, "tonnes": 70_000},
    {"sector": "transport", "subsector": "on-road", "scope": 1, "tonnes": 210_000},
    {"sector": "transport", "subsector": "railways", "scope": 2, "tonnes": 4_000},
    {"sector": "waste", "scope": 3, "tonnes": 22_000},
    {"sector": "ippu", "scope": 1, "notation": "NO"},
    {"sector": "afolu", "scope": 1, "notation": "NE"},
]
REMOVALS: list[dict[str, Any]] = [
    {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 10_000, "project": "city-forest"},
    {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 3_500, "description": "trees"},
    {"method": "biochar", "durability": "permanent", "tonnes": 800, "description": "municipal biochar plant"},
]
BASE_YEAR: list[dict[str, Any]] = [
    {"sector": "stationary-energy", "scope": 1, "tonnes": 900_000},
    {"sector": "transport", "scope": 1, "tonnes": 500_000},
]
FOREST_SOLD, FOREST_RETIRED_FOR_OTHERS, WETLAND_SOLD = 1_200, 300, 400


@dataclass
class Expected:
    """What the statement must say, tallied while the registry is filled."""

    claimed: int = 0  # tonnes, on every claim
    counted: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # project: tonnes
    counted_claims: int = 0
    excluded: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # code: tonnes of each
    expiring: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    retirements: int = 0  # for the city, claimed or not


# --- filling the registry ----------------------------------------------------------------------


def applied(node: Node, envelopes: list[dsse.Envelope]) -> list[int]:
    """Submit in batches of bench_registry.BATCH; return each event's log index. Every event must be accepted."""
    indices = []
    chunks = (envelopes[i : i + BATCH] for i in range(0, len(envelopes), BATCH))
    for outcomes in node.registry.submit_stream(chunks):
        for outcome in outcomes:
            if not isinstance(outcome, Applied):
                raise SystemExit(f"benchmark event refused: {outcome}")
            indices.append(outcome.index)
    return indices


def project(
    name: str, supplier: str, method: str, unit_type: str, location: dict[str, str], **extra: Any
) -> commands.Command:
    return commands.register_project(
        ORIGIN,
        project=name,
        supplier=supplier,
        name=name,
        method=method,
        unit_type=unit_type,
        location=location,
        methodology="bench",
        scheme="bench",
        **extra,
    )


def issuance(name: str, supplier: str, year: int, quantity: int, **extra: Any) -> commands.Command:
    return commands.issue(
        ORIGIN,
        project=name,
        supplier=supplier,
        verifier="verifier",
        monitoring_period=(f"{year}-01-01", f"{year}-12-31"),
        vintage=year,
        quantity=quantity,
        report_sha256="22" * 32,
        **extra,
    )


def open_city(node: Node, keys: dict[str, SignerKey]) -> dict[str, SerialRange]:
    """Open the city, register the projects and issue their batches; return each batch by a label."""
    operator = SignerKey.parse((node.data_dir.keys / "operator.key").read_text())  # initialise_registry's
    keys["operator"] = operator
    keys[CITY] = SignerKey.generate(CITY)
    city = commands.open_account(
        ORIGIN,
        operator="operator",
        account=CITY,
        role="city",
        name="Turku",
        keys=[commands.public_key(keys[CITY])],
        jurisdiction=LOCATION,
        boundary={"geojson_sha256": "ab" * 32, "description": "municipal boundary"},
    )
    made = [commands.sign(city, [operator])]
    for s in SOURCES:
        registered = project(
            s.project, "supplier", s.method, s.unit_type, {"country": s.country}, external_ids=list(s.external_ids)
        )
        made.append(commands.sign(registered, [keys["supplier"]]))
    made += [
        commands.sign(project("cookstove-ke", "supplier", "other", "avoidance", {"country": "KE"}), [keys["supplier"]]),
        commands.sign(
            project("city-forest", CITY, "afforestation-reforestation", "carbon-farming-sequestration", LOCATION),
            [keys[CITY]],
        ),
        commands.sign(
            project(
                "wetland-853", "supplier", "wetland-peatland-restoration", "carbon-farming-sequestration", LOCATION
            ),
            [keys["supplier"]],
        ),
    ]
    applied(node, made)
    supplied = [keys["supplier"], keys["verifier"]]
    issues: dict[str, tuple[commands.Command, list[SignerKey]]] = {
        s.project: (
            issuance(
                s.project,
                "supplier",
                YEAR,
                10**9,
                buffer=s.buffer,
                expires=s.expires,
                corresponding_adjustment=s.corresponding_adjustment,
            ),
            supplied,
        )
        for s in SOURCES
    }
    issues["cookstove-ke"] = (issuance("cookstove-ke", "supplier", YEAR, 10_000), supplied)
    issues["farm-fi-2020"] = (issuance("farm-fi", "supplier", 2020, 10_000, expires="2029-06-30"), supplied)
    issues["city-forest"] = (
        issuance("city-forest", CITY, YEAR, 10_000, expires="2037-12-31"),
        [keys[CITY], keys["verifier"]],
    )
    issues["wetland-853"] = (issuance("wetland-853", "supplier", YEAR, 10_000, expires="2038-12-31"), supplied)
    indices = applied(node, [commands.sign(command, signers) for command, signers in issues.values()])
    with node.engine.connect() as conn:
        return {label: queries.batch_issued_at(conn, index) for label, index in zip(issues, indices, strict=True)}


def make_inventories(node: Node, keys: dict[str, SignerKey]) -> None:
    base = commands.inventory(ORIGIN, CITY, 1990, emissions=BASE_YEAR, base_year=True)
    year = commands.inventory(ORIGIN, CITY, YEAR, emissions=EMISSIONS, removals=REMOVALS)
    applied(node, [commands.sign(base, [keys[CITY]]), commands.sign(year, [keys[CITY]])])


def sell_in_boundary(node: Node, keys: dict[str, SignerKey], made: dict[str, SerialRange]) -> None:
    """The city sells units of its forest, part of which the buyer retires, and retires more for another;
    the supplier of an unlinked project inside the boundary sells some of it."""
    forest, wetland = made["city-forest"], made["wetland-853"]
    sold = forest.sub(forest.first, forest.first + FOREST_SOLD - 1)
    others = forest.sub(sold.last + 1, sold.last + FOREST_RETIRED_FOR_OTHERS)
    applied(
        node,
        [
            commands.sign(commands.sell(ORIGIN, CITY, HOLDERS[0], str(sold), price=("30000", "EUR")), [keys[CITY]]),
            commands.sign(
                commands.retire(
                    ORIGIN,
                    HOLDERS[0],
                    str(sold.sub(sold.first, sold.first + 199)),
                    "compensation",
                    "FI",
                    beneficiary_name="Bench Oy",
                    year=YEAR,
                ),
                [keys[HOLDERS[0]]],
            ),
            commands.sign(
                commands.retire(
                    ORIGIN, CITY, str(others), "compensation", "FI", beneficiary_name="Naapuri Oy", year=YEAR
                ),
                [keys[CITY]],
            ),
            commands.sign(
                commands.sell(
                    ORIGIN,
                    "supplier",
                    HOLDERS[1],
                    str(wetland.sub(wetland.first, wetland.first + WETLAND_SOLD - 1)),
                    price=("8000", "EUR"),
                ),
                [keys["supplier"]],
            ),
        ],
    )


def retire_and_claim(
    node: Node, keys: dict[str, SignerKey], made: dict[str, SerialRange], plan: Plan, expected: Expected
) -> None:
    """Retire ``plan.claims`` lots for the city and claim each (one in fifty in part); retire a few more unclaimed."""
    rng = random.Random(5)
    pattern = [s.project for s in SOURCES for _ in range(s.share)]
    expires = {s.project: s.expires for s in SOURCES}
    buffers = {s.project: s.buffer for s in SOURCES}
    cursor = {label: batch.first + buffers.get(label, 0) for label, batch in made.items()}  # the supplier's units

    def take(label: str, tonnes: int) -> SerialRange:
        units = made[label].sub(cursor[label], cursor[label] + tonnes - 1)
        cursor[label] += tonnes
        return units

    lots = [take(pattern[n % len(pattern)], rng.randint(1, 40)) for n in range(plan.claims)]
    unclaimed = {
        "not-a-removal": [take("cookstove-ke", 100) for _ in range(3)],
        "units-expired": [take("farm-fi-2020", 50) for _ in range(2)],
        "not-claimed": [take("dac-is", 20) for _ in range(5)],
    }
    everything = lots + [units for lots_of in unclaimed.values() for units in lots_of]
    retiring = [
        commands.retire(ORIGIN, "supplier", str(units), "compensation", "FI", beneficiary_account=CITY, year=YEAR)
        for units in everything
    ]
    retired = applied(node, sign_all(keys["supplier"], retiring))
    expected.retirements = len(retired)
    for code, lots_of in unclaimed.items():
        expected.excluded[code] += [units.quantity for units in lots_of]
    claiming, contribution = [], 0
    for n, (units, at) in enumerate(zip(lots, retired[: len(lots)], strict=True)):
        part = units.sub(units.first, units.last - 1) if n % 50 == 49 and units.quantity > 1 else units
        claiming.append(commands.claim(ORIGIN, CITY, at, str(part), YEAR))
        if part != units:
            expected.excluded["not-claimed"].append(units.quantity - part.quantity)
        expected.claimed += part.quantity
        if part.project == CONTRIBUTION:
            contribution += part.quantity  # one exclusion for the project
        elif part.project == BLOCKED:
            expected.excluded["blocked-by-findings"].append(part.quantity)
        else:
            expected.counted[part.project] += part.quantity
            expected.counted_claims += 1
            if expires[part.project]:
                expected.expiring[part.project, str(expires[part.project])] += part.quantity
    expected.excluded["contribution-only"] = [contribution]
    applied(node, sign_all(keys[CITY], claiming))


def reverse_and_find(node: Node, keys: dict[str, SignerKey]) -> None:
    """A reversal of dac-is (from its buffer pool), and an import that finds mangrove-ke issued in Verra too."""
    reversal = commands.cancel(ORIGIN, "operator", "reversal", "storage leak", project="dac-is", quantity=REVERSED)
    elsewhere = commands.import_part(
        ORIGIN,
        "operator",
        source="verra",
        file_name="vcus.csv",
        file_sha256="99" * 32,
        file_kind="issuances",
        rows=1,
        part=1,
        parts=1,
        records=[
            {
                "kind": "issuance",
                "row": 1,
                "project": "VCS 9999",
                "country": "KE",
                "quantity": 5_000,
                "vintage": YEAR,
                "period_start": f"{YEAR}-01-01",
                "period_end": f"{YEAR}-12-31",
                "date": f"{YEAR + 1}-03-01",
            }
        ],
        problems=[],
    )
    applied(node, [commands.sign(reversal, [keys["operator"]]), commands.sign(elsewhere, [keys["operator"]])])


def count_blocks(node: Node) -> int:
    with node.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(blocks)).scalar_one())


def fill(node: Node, keys: dict[str, SignerKey], batch: SerialRange, plan: Plan, db: str) -> Expected:
    """Everything the statement reports, then seeding transfers off ``batch`` up to ``plan.blocks`` blocks."""
    expected = Expected()
    made = open_city(node, keys)
    make_inventories(node, keys)
    sell_in_boundary(node, keys, made)
    retire_and_claim(node, keys, made, plan, expected)
    reverse_and_find(node, keys)
    seeded, missing = 0, plan.blocks - count_blocks(node)
    while seeded < missing:  # each seeding transfer adds one block
        count = min(10_000, missing - seeded)
        submit(node, transfers(batch, seeded, count, keys["supplier"]))
        seeded += count
        print(f"  {db}: {plan.blocks - missing + seeded:,} blocks", file=sys.stderr, end="\r")
    print(" " * 40, file=sys.stderr, end="\r")
    return expected


# --- checking ----------------------------------------------------------------------------------


def check(result: dict[str, Any], expected: Expected) -> None:
    """Refuse to time a wrong statement: every term, exclusion and note must be what the fill made."""
    gross = sum(line.get("tonnes", 0) for line in EMISSIONS)
    removals = sum(line["tonnes"] for line in REMOVALS)
    retired = sum(expected.counted.values())
    sold = FOREST_SOLD + FOREST_RETIRED_FOR_OTHERS
    negative = removals + retired
    excluded: dict[str, list[int]] = defaultdict(list)
    for entry in result["exclusions"]:
        excluded[entry["code"]].append(entry["tonnes"])
    credited = result["terms"]["retired_credits"]["projects"]
    base = sum(line["tonnes"] for line in BASE_YEAR)
    warnings = Counter(w["code"] for w in result["warnings"])
    wanted_warnings = Counter({"not-estimated": 1, "sold-removal-not-counted": 1, "not-crcf": 1})
    if negative * 100 > base * balance.RESIDUAL_CAP_PERCENT:
        wanted_warnings["compensation-above-residual-cap"] = 1
    checks = [
        ("gross emissions", result["gross_emissions"], gross),
        ("in-boundary removals", result["in_boundary_removals"], removals),
        ("retired credits", result["retired_credits"], retired),
        ("sold credits", result["sold_credits"], sold),
        ("net", result["net"], gross + sold - negative),
        (
            "claimed tonnes (counted + contribution + blocked)",
            retired + sum(excluded["contribution-only"]) + sum(excluded["blocked-by-findings"]),
            expected.claimed,
        ),
        ("tonnes by project", {c["project"]: c["tonnes"] for c in credited}, dict(expected.counted)),
        ("claims counted", sum(len(c["claims"]) for c in credited), expected.counted_claims),
        (
            "exclusions",
            {code: sorted(t) for code, t in excluded.items()},
            {code: sorted(t) for code, t in expected.excluded.items()},
        ),
        ("expiring", {(e["project"], e["expires"]): e["tonnes"] for e in result["expiring"]}, dict(expected.expiring)),
        (
            "reversals",
            [(r["project"], r["tonnes"], r["to_replace"]) for r in result["reversals"]],
            [("dac-is", REVERSED, 0)],
        ),
        ("warnings", warnings, wanted_warnings),
        ("countries", {c["country"] for c in result["diversification"]["by_country"]}, {"IS", "DE", "FI", "SE", "BR"}),
        ("base year", result["shares"]["compensation_of_base_year"]["of"], base),
    ]
    for what, got, want in checks:
        if got != want:
            raise SystemExit(f"the statement is wrong: {what} is {got!r}, expected {want!r}")


# --- measuring ---------------------------------------------------------------------------------


def claim_read(city: str, year: int) -> sa.Select[Any]:
    """The city's claims for ``year`` with their batches and projects: the columns balance._retired_credits reads."""
    return (
        sa.select(
            claims.c.idx,
            claims.c.retirement,
            claims.c.batch,
            claims.c.first,
            claims.c.last,
            batches.c.project,
            batches.c.vintage,
            batches.c.expires,
            batches.c.durability_years,
            batches.c.corresponding_adjustment,
            batches.c.issued_at,
            projects.c.method,
            projects.c.country,
            projects.c.unit_type,
            projects.c.registered_at,
        )
        .join(batches, batches.c.number == claims.c.batch)
        .join(projects, projects.c.id == batches.c.project)
        .where(claims.c.city == city, claims.c.year == year)
        .order_by(claims.c.idx)
    )


def claim_rows(city: str, year: int) -> sa.Select[Any]:
    """The city's claims for ``year`` alone, without their batches' and projects' columns on every row."""
    return (
        sa.select(claims.c.idx, claims.c.retirement, claims.c.batch, claims.c.first, claims.c.last)
        .where(claims.c.city == city, claims.c.year == year)
        .order_by(claims.c.idx)
    )


def measure(node: Node, plan: Plan, expected: Expected, db: str, filled_in: float) -> None:
    engine = node.engine
    with engine.connect() as conn:
        log_size = int(conn.execute(sa.select(registry_head.c.applied)).scalar_one())
    table = Table(db, count_blocks(node))
    calls = list(range(plan.calls))
    with engine.connect() as conn:
        result = balance.statement(conn, CITY, YEAR)
        conn.rollback()
        check(result, expected)
        read, alone = claim_read(CITY, YEAR), claim_rows(CITY, YEAR)
        rows = len(conn.execute(read).all())
        conn.rollback()
        if rows != plan.claims:
            raise SystemExit(f"the claim read returned {rows:,} rows, expected {plan.claims:,}")

        def read_claims(_: int) -> None:
            conn.execute(read).all()

        def read_rows_alone(_: int) -> None:
            conn.execute(alone).all()

        def make_statement(_: int) -> None:
            balance.statement(conn, CITY, YEAR)

        joined_ms = timed_ms(conn, read_claims, calls)
        limit_ms = timed_ms(conn, read_rows_alone, calls)
        statement_ms = timed_ms(conn, make_statement, calls)
    encoded = canonical.encode(result)
    encode_ms = []
    for n in range(20 + plan.calls):
        began = time.perf_counter()
        canonical.encode(result)
        if n >= 20:  # the first 20 warm up, as timed_ms's do
            encode_ms.append((time.perf_counter() - began) * 1000)
    limit = statistics.median(limit_ms)

    table.row(f"fill, {log_size:,} log entries", f"{filled_in:.1f} s")
    table.row(f"claims / retirements for {CITY}", f"{plan.claims:,} / {expected.retirements:,}")
    table.row(f"claim rows alone p50 (limit), {rows:,} rows", f"{limit:.3f} ms", 1.0)
    table.row("claim rows alone p99", f"{p(limit_ms, 0.99):.3f} ms", p(limit_ms, 0.99) / limit)
    joined = statistics.median(joined_ms)
    table.row("claims joined with batches, projects p50", f"{joined:.3f} ms", joined / limit)
    table.latency(f"statement, {plan.calls} calls", statement_ms, limit, STATEMENT_P99_MS)
    table.row("canonical JSON encode p50", f"{p(encode_ms, 0.5):.3f} ms")
    table.row("canonical JSON encode p99", f"{p(encode_ms, 0.99):.3f} ms")
    table.row("statement JSON size", f"{len(encoded):,} B")
    table.row("statement evidence indices", f"{len(result['evidence']):,}")


def run(db: str, plan: Plan) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-statement-") as tmp:
        schema, url = postgres_schema() if db == "postgresql" else (None, None)
        try:
            began = time.perf_counter()
            node, keys, batch = open_registry(Path(tmp) / "registry", url)
            expected = fill(node, keys, batch, plan, db)
            if db == "postgresql":
                analyse(node.engine)
            filled_in = time.perf_counter() - began
            heap.settle()  # as `registry serve` does once the registry is loaded
            measure(node, plan, expected, db, filled_in)
            node.close()
        finally:
            if schema:
                drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="10,000 blocks and 1,000 claims instead of 100,000 and 10,000"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    print("limit: one query reading the city's claim rows for the year, every row fetched (p50, same run)")
    print(f"target: statement p99 <= {STATEMENT_P99_MS:g} ms")
    print(f"{'database':<11} {'blocks':>10}  {'figure':<38} {'value':>13}  {'ratio':>8}  target")
    for db in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        run(db, plan)


if __name__ == "__main__":
    main()
