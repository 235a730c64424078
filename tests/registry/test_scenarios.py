"""The city scenarios of shared/data/cities/scenarios.md, read from the demo registry, and its edge cases.

The demo (registry.demo, registry.demo_cities) is built once for the module on each database;
each city's net-emissions statement must reproduce its scenario's figures exactly. The edge
cases that "every implementation must handle" are walked through by name at the end, on a
fresh test world.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.keys import SignerKey
from registry import balance, commands, findings, inventories, schema
from registry.demo import build_demo
from registry.errors import (
    NotRemovalError,
    UnitsExpiredError,
    UnitsRetiredError,
    UnknownError,
    WrongPeriodError,
)
from registry.findings import Kind, Severity, Units
from registry.node import Node
from registry.serials import SerialRange
from tests.builders import OPERATOR, World, world
from tests.registry.test_balance import GROSS, inventory
from tests.registry.test_claims import claim, retired_for
from tests.registry.test_findings import around, read_log, replays_to_the_same_state


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, module_database_cli_url: str) -> Iterator[Node]:
    """The demo registry, built once: these tests read it (a refused claim writes nothing)."""
    node = build_demo(tmp_path_factory.mktemp("demo") / "registry", database_url=module_database_cli_url)
    yield node
    node.close()


def statement_of(node: Node, city: str, year: int) -> dict[str, Any]:
    with node.engine.connect() as conn:
        return balance.statement(conn, city, year)


def balance_of(w: World, city: str = "city-a", year: int = 2029) -> dict[str, Any]:
    with w.engine.connect() as conn:
        return balance.statement(conn, city, year)


def inventory_at(conn: Connection, city: str, year: int) -> int:
    """The log index of ``city``'s inventory for ``year``."""
    current = inventories.current_inventory(conn, city, year)
    assert current is not None, f"{city} has no inventory for {year}"
    return int(current.idx)


def event_types(conn: Connection, indices: Iterable[int]) -> set[str]:
    """The event types of the log entries at ``indices``."""
    rows = conn.execute(sa.select(schema.events.c.type).where(schema.events.c.idx.in_(list(indices))))
    return set(rows.scalars())


def log_size(node: Node) -> int:
    return node.sequencer.store.head()[0]


# --- the five scenarios --------------------------------------------------------------------------

# city, year: (gross, sold, in-boundary removals, retired credits), (positive, negative, net),
# compensation share % of base year, durable share %, warning codes, exclusions (code, tonnes).
SCENARIOS: list[tuple[str, int, tuple[int, int, int, int], tuple[int, int, int], Any, Any, list[str], list[Any]]] = [
    # 1. Turku 2029, the pass case: 40,000 t urban forest + 60,000 t permanent + 29,000 t carbon farming.
    ("turku", 2029, (129_000, 0, 40_000, 89_000), (129_000, 129_000, 0), "10.03", "46.51", [], []),
    # 2. Helsinki 2030, over the cap: 1,200,000 t is 34% of 3,514,000 t, above the 20% convention.
    (
        "helsinki",
        2030,
        (1_200_000, 0, 0, 1_200_000),
        (1_200_000, 1_200_000, 0),
        "34.15",
        "100.00",
        ["compensation-above-residual-cap"],
        [],
    ),
    # 3. Bogotá 2022: Colombian removals, not CRCF, no corresponding adjustment: a contribution only.
    (
        "bogota",
        2022,
        (9_910_882, 0, 0, 0),
        (9_910_882, 0, 9_910_882),
        None,
        None,
        ["no-base-year"],
        [("contribution-only", 120_000)],
    ),
    # 4. Melbourne council operations FY2013-14: avoidance credits count zero.
    ("melbourne", 2014, (51_030, 0, 0, 0), (51_030, 0, 51_030), "0.00", None, [], [("not-a-removal", 51_030)]),
    # 5. Espoo 2028: the forest's credits were sold, so they are added to the positive side.
    ("espoo", 2028, (320_000, 10_000, 10_000, 0), (330_000, 10_000, 320_000), "0.87", "0.00", [], []),
]


@pytest.mark.parametrize(
    ("city", "year", "terms", "totals", "compensation", "durable", "warnings", "exclusions"),
    SCENARIOS,
    ids=[f"{s[0]}-{s[1]}" for s in SCENARIOS],
)
def test_each_scenario_is_reproduced_from_the_demo(  # noqa: PLR0917  # one row of SCENARIOS
    demo: Node,
    city: str,
    year: int,
    terms: tuple[int, int, int, int],
    totals: tuple[int, int, int],
    compensation: str | None,
    durable: str | None,
    warnings: list[str],
    exclusions: list[tuple[str, int]],
) -> None:
    result = statement_of(demo, city, year)
    assert (
        result["gross_emissions"],
        result["sold_credits"],
        result["in_boundary_removals"],
        result["retired_credits"],
    ) == terms
    assert (result["positive"], result["negative"], result["net"]) == totals
    assert result["positive"] == result["gross_emissions"] + result["sold_credits"]
    assert result["negative"] == result["in_boundary_removals"] + result["retired_credits"]
    assert result["shares"]["compensation_of_base_year"]["percent"] == compensation
    assert result["shares"]["durable"]["percent"] == durable
    assert [w["code"] for w in result["warnings"]] == warnings
    assert [(e["code"], e["tonnes"]) for e in result["exclusions"]] == exclusions


def test_turku_2029_balances_to_zero_with_removals_only(demo: Node) -> None:
    result = statement_of(demo, "turku", 2029)
    gross = result["terms"]["gross_emissions"]
    # Road transport, electricity and district heating keep their published 2020 proportions.
    assert [(line["subsector"], line["tonnes"]) for line in gross["lines"][:3]] == [
        ("on-road", 32_649),
        ("grid-supplied electricity", 32_457),
        ("district heating", 24_460),
    ]
    assert gross["by_sector"] == {
        "stationary-energy": 65_917,
        "transport": 45_149,
        "waste": 8_500,
        "ippu": 3_000,
        "afolu": 6_434,
    }
    assert gross["by_scope"] == {"1": 72_083, "2": 56_917, "3": 0}
    assert result["terms"]["in_boundary_removals"]["by_durability"] == {"permanent": 0, "temporary": 40_000}
    credits = result["terms"]["retired_credits"]["projects"]
    assert [(c["project"], c["unit_type"], c["durable"], c["tonnes"]) for c in credits] == [
        ("ee-peatland-1", "carbon-farming-sequestration", False, 29_000),
        ("fi-biochar-1", "permanent-removal", True, 25_000),
        ("se-beccs-1", "permanent-removal", True, 35_000),
    ]
    assert [(e["project"], e["tonnes"], e["expires"]) for e in result["expiring"]] == [
        ("ee-peatland-1", 29_000, "2036-12-31")
    ]
    assert result["shares"]["compensation_of_base_year"] | {"evidence": None} == {
        "tonnes": 129_000,
        "percent": "10.03",
        "base_year": 1990,
        "of": 1_286_000,
        "evidence": None,
    }
    assert {k: v for k, v in result["shares"]["durable"].items() if k != "evidence"} == {
        "tonnes": 60_000,
        "of": 129_000,
        "percent": "46.51",
    }
    assert result["reversals"] == []
    with demo.engine.connect() as conn:
        assert gross["evidence"] == [inventory_at(conn, "turku", 2029)]
        assert result["shares"]["compensation_of_base_year"]["evidence"] == [inventory_at(conn, "turku", 1990)]
        # Every counted credit links to its claim, its retirement, its issuance and its project.
        evidence = result["terms"]["retired_credits"]["evidence"]
        assert event_types(conn, evidence) == {"claim", "retirement", "issuance", "project"}
        assert len([c for credit in credits for c in credit["claims"]]) == 3


def test_helsinki_2030_is_warned_above_the_residual_cap(demo: Node) -> None:
    result = statement_of(demo, "helsinki", 2030)
    assert result["shares"]["compensation_of_base_year"] | {"evidence": None} == {
        "tonnes": 1_200_000,
        "percent": "34.15",
        "base_year": 1990,
        "of": 3_514_000,
        "evidence": None,
    }
    (warning,) = result["warnings"]
    assert "above the ~20% residual-emissions convention (702800 t)" in warning["message"]
    with demo.engine.connect() as conn:
        assert warning["evidence"] == [inventory_at(conn, "helsinki", 1990)]
    credits = result["terms"]["retired_credits"]["projects"]
    assert [(c["project"], c["method"], c["country"], c["tonnes"]) for c in credits] == [
        ("is-daccs-1", "daccs", "IS", 850_000),
        ("se-beccs-1", "beccs", "SE", 350_000),
    ]
    assert [(c["country"], c["percent"]) for c in result["diversification"]["by_country"]] == [
        ("IS", "70.83"),
        ("SE", "29.17"),
    ]


def test_bogota_2022_counts_its_colombian_credits_as_a_contribution_only(demo: Node) -> None:
    result = statement_of(demo, "bogota", 2022)
    gross = result["terms"]["gross_emissions"]
    assert gross["by_sector"] == {
        "stationary-energy": 3_778_506,
        "transport": 4_037_922,
        "waste": 1_853_292 + 163_080,
        "ippu": 0,
        "afolu": 78_082,
    }
    assert [(line["sector"], line.get("subsector"), line["tonnes"]) for line in gross["lines"]] == [
        ("transport", None, 4_037_922),
        ("stationary-energy", "building energy", 3_778_506),
        ("waste", "solid waste disposal", 1_853_292),
        ("waste", "wastewater treatment and discharge", 163_080),
        ("afolu", None, 78_082),
    ]
    assert result["terms"]["retired_credits"]["projects"] == []
    (excluded,) = result["exclusions"]
    assert "'co-forest-1' are not CRCF units" in excluded["message"]
    with demo.engine.connect() as conn:
        # The credits were claimed (a claim entry is in the evidence): it is the statement that
        # counts them as a contribution, not the claim rules that refuse them.
        assert event_types(conn, excluded["evidence"]) == {"claim", "retirement", "issuance", "project"}
        claimed = conn.execute(
            sa.select(sa.func.sum(schema.claims.c.last - schema.claims.c.first + 1)).where(
                schema.claims.c.city == "bogota", schema.claims.c.year == 2022
            )
        ).scalar_one()
    assert int(claimed) == 120_000
    assert result["shares"]["compensation_of_base_year"]["base_year"] is None


def test_melbourne_fy2013_14_retires_avoidance_credits_that_count_zero(demo: Node) -> None:
    result = statement_of(demo, "melbourne", 2014)
    assert result["period"] == {"start": "2013-07-01", "end": "2014-06-30"}
    assert result["shares"]["compensation_of_base_year"] | {"evidence": None} == {
        "tonnes": 0,
        "percent": "0.00",
        "base_year": 2012,
        "of": 52_059,
        "evidence": None,
    }
    base = statement_of(demo, "melbourne", 2012)
    assert (base["period"], base["gross_emissions"]) == ({"start": "2011-07-01", "end": "2012-06-30"}, 52_059)
    (excluded,) = result["exclusions"]
    (retirement,) = excluded["evidence"]
    with demo.engine.connect() as conn:
        retired = conn.execute(sa.select(schema.retirements).where(schema.retirements.c.idx == retirement)).one()
        serial = SerialRange("in-wind-1", 2013, retired.batch, retired.first, retired.last)
    assert (retired.beneficiary_account, retired.last - retired.first + 1) == ("melbourne", 51_030)
    # The city cannot claim them: they are not removals, and the refused claim writes nothing.
    key = SignerKey.parse((demo.data_dir.keys / "melbourne.key").read_text())
    size = log_size(demo)
    with pytest.raises(NotRemovalError, match="are avoidance units, not removals"):
        demo.registry.submit(
            commands.sign(commands.claim(demo.origin, "melbourne", retirement, str(serial), 2014), [key])
        )
    assert log_size(demo) == size


def test_espoo_adds_the_credits_it_sold_from_its_own_forest(demo: Node) -> None:
    result = statement_of(demo, "espoo", 2028)
    sold = result["terms"]["sold_credits"]
    assert [(p["project"], p["tonnes"]) for p in sold["projects"]] == [("espoo-forest-1", 10_000)]
    removals = result["terms"]["in_boundary_removals"]
    assert [(line["project"], line["durability"], line["tonnes"]) for line in removals["lines"]] == [
        ("espoo-forest-1", "temporary", 10_000)
    ]
    with demo.engine.connect() as conn:
        counted = inventory_at(conn, "espoo", 2028)
        found = findings.load(conn, kind=Kind.SOLD_COUNTED_REMOVAL)
        # One warning, raised by the inventory, for every unit that had left the city before it.
        assert [(f.idx, f.account, f.severity) for f in found] == [(counted, "espoo", Severity.WARNING)]
        moved = [i for i in found[0].evidence if i != counted]
        assert event_types(conn, moved[:1]) == {"sale"}
        assert event_types(conn, moved[1:]) == {"retirement"}  # the company retired part of what it bought
        # The demo's only finding is this warning: every claim in it is clean.
        assert [f.kind for f in findings.load(conn)] == [Kind.SOLD_COUNTED_REMOVAL]
    # The sale and the retirement overlap: merged, the units are the 10,000 sold, once.
    assert [u.last - u.first + 1 for u in found[0].units] == [10_000]
    # The sale and the company's retirement overlap: the statement counts each unit once.
    assert sold["evidence"] == sorted({*moved, counted})


# --- the edge cases ------------------------------------------------------------------------------


def test_the_six_edge_cases_of_the_scenarios(engine: Engine) -> None:
    """Each edge case of scenarios.md, with the error the registry gives and what the statement says."""
    w = world(engine)
    inventory(w, year=1990, base_year=True, emissions=[{"sector": "transport", "scope": 1, "tonnes": 1_000_000}])
    perm = w.issue(1000, year=2028, buffer=100)  # units first..first+99 are the buffer pool
    held = perm.first + 100

    # (1) The same serial block retired for two cities: the registry refuses the second; written
    # around it, the entry is void and found, and the first city's claim no longer counts.
    block = perm.sub(held, held + 99)
    first = retired_for(w, block, "city-a")
    claimed_first = claim(w, "city-a", first, block)
    again = commands.retire(
        w.origin, "supplier", str(block), "compensation", "FI-19", beneficiary_account="city-b", year=2029
    )
    with pytest.raises(UnitsRetiredError):
        w.submit(again, "supplier")
    forged = around(w, again, "supplier")
    read_log(w)
    with w.engine.connect() as conn:
        (twice,) = findings.load(conn, kind=Kind.RETIRED_TWICE)
    assert (twice.idx, twice.evidence, twice.severity) == (forged, (first, forged), Severity.BLOCKING)
    assert twice.units == (Units(block.batch, block.first, block.last),)
    with pytest.raises(UnknownError):  # the void entry retired nothing that city-b could claim
        claim(w, "city-b", forged, block)

    # (2) A soil emission reduction unit retired for compensation: a reduction, not a removal.
    soil = commands.register_project(
        w.origin,
        project="soil",
        supplier="supplier",
        name="Soil emission reduction",
        method="soil-carbon",
        unit_type="soil-emission-reduction",
        location={"country": "FI"},
        methodology="CRCF carbon farming methodology",
        scheme="CRCF",
    )
    w.submit(soil, "supplier")
    reduction = w.issue(300, project="soil", year=2028, expires="2040-12-31")
    for_soil = retired_for(w, reduction, "city-a")
    with pytest.raises(NotRemovalError, match="are soil-emission-reduction units, not removals"):
        claim(w, "city-a", for_soil, reduction)

    # (3) A temporary unit claimed after its expiry: carbon farming units of 2020 expire at the
    # end of 2028, before 2029 ends.
    farm = w.issue(50, project="farm", year=2020)
    for_farm = retired_for(w, farm, "city-a")
    with pytest.raises(UnitsExpiredError, match="expire on 2028-12-31, before the end of 2029"):
        claim(w, "city-a", for_farm, farm)

    # (4) A reversal (wildfire) after the credits were claimed: drawn from the buffer pool, the
    # claim stands.
    burnt = perm.sub(held + 100, held + 199)
    claimed_burnt = claim(w, "city-a", retired_for(w, burnt, "city-a"), burnt)
    wildfire = commands.cancel(w.origin, OPERATOR, "reversal", "wildfire", project="perm", quantity=50)
    fire = w.submit(wildfire, OPERATOR).index

    # (5) An inventory with a sector marked "not estimated" (GPC notation key NE).
    inventory(w, emissions=[*GROSS, {"sector": "transport", "scope": 3, "notation": "NE"}])

    # (6) A retirement claimed for a year other than the one it was retired for.
    later = perm.sub(held + 200, held + 249)
    for_2030 = retired_for(w, later, "city-a", year=2030)
    with pytest.raises(WrongPeriodError, match="not for 2029"):
        claim(w, "city-a", for_2030, later, year=2029)
    claim(w, "city-a", for_2030, later, year=2030)  # its own year is fine

    result = balance_of(w)
    assert result["retired_credits"] == 100  # (4) only: (1) is blocked, (2) and (3) were refused
    assert (result["gross_emissions"], result["positive"], result["negative"], result["net"]) == (
        129_000,
        129_000,
        100,
        128_900,
    )
    assert [(e["code"], e["tonnes"]) for e in result["exclusions"]] == [
        ("blocked-by-findings", 100),  # (1)
        ("not-a-removal", 300),  # (2)
        ("units-expired", 50),  # (3)
    ]
    assert {claimed_first, forged} <= set(result["exclusions"][0]["evidence"])
    assert result["exclusions"][1]["evidence"] == [for_soil]
    assert result["exclusions"][2]["evidence"] == [for_farm]
    assert [(r["project"], r["tonnes"], r["from_buffer"], r["to_replace"]) for r in result["reversals"]] == [
        ("perm", 50, 50, 0)  # (4)
    ]
    assert {fire, claimed_burnt} <= set(result["reversals"][0]["evidence"])
    assert [x["code"] for x in result["warnings"]] == ["not-estimated"]  # (5)
    assert "transport scope 3 as not estimated" in result["warnings"][0]["message"]
    replays_to_the_same_state(w)
