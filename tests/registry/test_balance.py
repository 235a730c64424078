"""Inventories, the claim rules that need them, and the city's net-emissions statement."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from registry import balance, commands, findings, schema
from registry.errors import (
    ClaimedAsCreditError,
    CountedInInventoryError,
    InvalidEventError,
    InventoryExistsError,
    LateRetirementError,
    NotRemovalError,
    RecordNotFoundError,
    RuleError,
    UnitsRetiredError,
    UnknownError,
    WrongPeriodError,
)
from registry.findings import Kind
from tests.builders import OPERATOR, World, world
from tests.registry.test_claims import claim, retired_for
from tests.registry.test_findings import around, read_log, replays_to_the_same_state

GROSS = [
    {"sector": "stationary-energy", "scope": 1, "tonnes": 50_000},
    {"sector": "stationary-energy", "scope": 2, "tonnes": 30_000},
    {"sector": "transport", "scope": 1, "tonnes": 40_000},
    {"sector": "waste", "scope": 3, "tonnes": 9_000},
    {"sector": "ippu", "scope": 1, "notation": "NO"},
    {"sector": "afolu", "scope": 1, "notation": "IE"},
]


def inventory(w: World, city: str = "city-a", year: int = 2029, **options: Any) -> int:
    options.setdefault("emissions", GROSS)
    return w.submit(commands.inventory(w.origin, city, year, **options), city).index


def city_forest(w: World, project: str = "forest", supplier: str = "city-a", municipality: str = "853") -> None:
    """A forest project inside city-a's boundary (municipality 853), developed by ``supplier``."""
    command = commands.register_project(
        w.origin,
        project=project,
        supplier=supplier,
        name="Municipal forest",
        method="afforestation-reforestation",
        unit_type="carbon-farming-sequestration",
        location={"country": "FI", "subdivision": "FI-19", "municipality": municipality},
        methodology="test methodology",
        scheme="test scheme",
    )
    w.submit(command, supplier)


def statement(w: World, city: str = "city-a", year: int = 2029) -> dict[str, Any]:
    with w.engine.connect() as conn:
        return balance.statement(conn, city, year)


# --- inventories ---------------------------------------------------------------------------------


def test_an_inventory_is_recorded_and_a_second_for_the_year_must_revise_it(engine: Engine) -> None:
    w = world(engine)
    first = inventory(w)
    with pytest.raises(InventoryExistsError) as again:
        inventory(w, emissions=[{"sector": "transport", "scope": 1, "tonnes": 1}])
    assert again.value.index == first
    revised = inventory(w, emissions=[{"sector": "transport", "scope": 1, "tonnes": 7}], revises=first)
    assert statement(w)["gross_emissions"] == 7
    assert statement(w)["terms"]["gross_emissions"]["evidence"] == [revised]
    with pytest.raises(InventoryExistsError):
        inventory(w, emissions=GROSS, revises=first)  # the superseded one cannot be revised again
    replays_to_the_same_state(w)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"sector": "transport", "scope": 1, "tonnes": 5, "notation": "NE"}, "emissions.0.tonnes"),
        ({"sector": "transport", "scope": 1}, "emissions.0.tonnes"),
        ({"sector": "shipping", "scope": 1, "tonnes": 5}, "emissions.0.sector"),
        ({"sector": "transport", "scope": 4, "tonnes": 5}, "emissions.0.scope"),
        ({"sector": "transport", "scope": 1, "tonnes": -5}, "emissions.0.tonnes"),
        ({"sector": "transport", "scope": 1, "notation": "XX"}, "emissions.0.notation"),
    ],
)
def test_a_malformed_inventory_line_is_refused_naming_the_field(
    engine: Engine, line: dict[str, Any], field: str
) -> None:
    w = world(engine)
    size = w.log_size()
    with pytest.raises(InvalidEventError) as refused:
        inventory(w, emissions=[line])
    assert refused.value.field == field
    assert w.log_size() == size


def test_only_a_city_submits_an_inventory_and_links_only_projects_inside_its_boundary(engine: Engine) -> None:
    w = world(engine)
    with pytest.raises(RuleError, match="only cities submit inventories"):
        w.submit(commands.inventory(w.origin, "buyer", 2029, emissions=GROSS), "buyer")
    removal = {"method": "biochar", "durability": "permanent", "tonnes": 10, "project": "perm"}
    with pytest.raises(RuleError, match="outside the boundary of 'city-a'") as outside:
        inventory(w, removals=[removal])
    assert outside.value.field == "removals.0.project"
    with pytest.raises(UnknownError, match="no project 'nowhere'"):
        inventory(w, removals=[removal | {"project": "nowhere"}])
    city_forest(w)
    with pytest.raises(RuleError, match="removes by afforestation-reforestation"):
        inventory(w, removals=[removal | {"project": "forest"}])


# --- the claim rules that inventories and policy add ---------------------------------------------


def test_a_city_cannot_claim_credits_for_a_removal_its_inventory_counts(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000, "project": "forest"}
    counted = inventory(w, removals=[line])
    mine = forest.sub(forest.first, forest.first + 499)
    retirement = retired_for(w, mine, "city-a", holder="city-a")
    with pytest.raises(CountedInInventoryError, match=f"counts in its 2029 inventory at log index {counted}"):
        claim(w, "city-a", retirement, mine)
    # Kept: the same forest's credits, retired for a city that does not count the removal.
    theirs = forest.sub(forest.first + 500, forest.last)
    kept = retired_for(w, theirs, "city-b", holder="city-a")
    claim(w, "city-b", kept, theirs)


def test_an_inventory_cannot_count_a_removal_whose_credits_the_city_claimed(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    retirement = retired_for(w, forest, "city-a", holder="city-a")
    claimed_at = claim(w, "city-a", retirement, forest)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000, "project": "forest"}
    with pytest.raises(ClaimedAsCreditError) as refused:
        inventory(w, removals=[line])
    assert (refused.value.field, refused.value.index) == ("removals.0.project", claimed_at)
    # Kept: the same removal, not linked to the project, is the city's own count.
    inventory(w, removals=[{k: v for k, v in line.items() if k != "project"}])


def test_a_retirement_logged_after_the_policy_window_is_not_claimed(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    early = retired_for(w, serial.sub(serial.first, serial.first + 9), "city-a", year=2020)
    w.submit(commands.policy(w.origin, OPERATOR, retirement_window_days=365), OPERATOR)
    late = retired_for(w, serial.sub(serial.first + 10, serial.first + 19), "city-a", year=2020)
    with pytest.raises(LateRetirementError, match=r"more than 365 days after the reporting period ended on 2020-12-31"):
        claim(w, "city-a", late, serial.sub(serial.first + 10, serial.first + 19), year=2020)
    with pytest.raises(LateRetirementError):  # the policy applies to claims, whenever the retirement was
        claim(w, "city-a", early, serial.sub(serial.first, serial.first + 9), year=2020)
    # Kept: a retirement for a period that has not yet ended is in time.
    timely = retired_for(w, serial.sub(serial.first + 20, serial.first + 29), "city-a", year=2100)
    claim(w, "city-a", timely, serial.sub(serial.first + 20, serial.first + 29), year=2100)
    # Turning the window off lets the late one through.
    w.submit(commands.policy(w.origin, OPERATOR, retirement_window_days=None), OPERATOR)
    claim(w, "city-a", late, serial.sub(serial.first + 10, serial.first + 19), year=2020)
    replays_to_the_same_state(w)


def test_only_the_operator_sets_the_policy(engine: Engine) -> None:
    w = world(engine)
    from registry.errors import UnauthorisedError

    with pytest.raises(UnauthorisedError):
        w.submit(commands.policy(w.origin, OPERATOR, retirement_window_days=1), "city-a")
    with pytest.raises(InvalidEventError) as negative:
        w.submit(commands.policy(w.origin, OPERATOR, retirement_window_days=-1), OPERATOR)
    assert negative.value.field == "retirement_window_days"


# --- the double-claiming findings of DESIGN.md §4 that need inventories ----------------------------


def test_a_claim_entry_for_a_removal_the_city_counts_is_void_and_found(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000, "project": "forest"}
    counted = inventory(w, removals=[line])
    retirement = retired_for(w, forest, "city-a", holder="city-a")
    at = around(w, commands.claim(w.origin, "city-a", retirement, str(forest), 2029), "city-a")
    read_log(w)
    with w.engine.connect() as conn:
        found = findings.load(conn, kind=Kind.REMOVAL_COUNTED_TWICE)
    assert [(f.kind, f.idx, f.evidence, f.account) for f in found if f.kind == Kind.REMOVAL_COUNTED_TWICE] == [
        (Kind.REMOVAL_COUNTED_TWICE, at, (counted, retirement, at), "city-a")
    ]


def test_an_inventory_entry_counting_a_claimed_removal_is_void_and_found(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    retirement = retired_for(w, forest, "city-a", holder="city-a")
    claimed_at = claim(w, "city-a", retirement, forest)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000, "project": "forest"}
    at = around(w, commands.inventory(w.origin, "city-a", 2029, emissions=GROSS, removals=[line]), "city-a")
    read_log(w)
    with w.engine.connect() as conn:
        found = findings.load(conn, kind=Kind.REMOVAL_COUNTED_TWICE)
        assert inventories_of(conn) == []  # void: it changed nothing
    assert [(f.idx, f.evidence, f.account) for f in found] == [(at, (claimed_at, at), "city-a")]
    replays_to_the_same_state(w)


def test_a_claim_entry_on_a_late_retirement_is_void_and_found(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    w.submit(commands.policy(w.origin, OPERATOR, retirement_window_days=30), OPERATOR)
    late = retired_for(w, serial, "city-a", year=2021)
    at = around(w, commands.claim(w.origin, "city-a", late, str(serial), 2021), "city-a")
    read_log(w)
    with w.engine.connect() as conn:
        found = findings.load(conn, kind=Kind.LATE_RETIREMENT_CLAIMED)
    assert [(f.idx, f.evidence, f.account) for f in found] == [(at, (late, at), "city-a")]


def inventories_of(conn: Any) -> list[Any]:
    return list(conn.execute(sa.select(schema.inventories)).all())


def test_selling_credits_from_a_counted_removal_is_found_and_added_to_the_positive_side(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(10_000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 10_000, "project": "forest"}
    counted = inventory(w, removals=[line])
    sale = w.submit(commands.sell(w.origin, "city-a", "buyer", str(forest), price=("1000000", "EUR")), "city-a").index
    with w.engine.connect() as conn:
        found = findings.load(conn, kind=Kind.SOLD_COUNTED_REMOVAL)
    assert [(f.idx, f.evidence, f.account, f.severity) for f in found] == [
        (sale, (counted, sale), "city-a", findings.Severity.WARNING)
    ]
    result = statement(w)
    assert (result["gross_emissions"], result["sold_credits"], result["in_boundary_removals"]) == (
        129_000,
        10_000,
        10_000,
    )
    assert (result["positive"], result["negative"], result["net"]) == (139_000, 10_000, 129_000)
    assert result["terms"]["sold_credits"]["evidence"] == [counted, sale]
    replays_to_the_same_state(w)


def test_an_inventory_counting_a_removal_whose_credits_were_sold_is_found(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(500, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    sale = w.submit(commands.sell(w.origin, "city-a", "buyer", str(forest), price=("10", "EUR")), "city-a").index
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 500, "project": "forest"}
    counted = inventory(w, removals=[line])
    with w.engine.connect() as conn:
        found = findings.load(conn, kind=Kind.SOLD_COUNTED_REMOVAL)
    assert [(f.idx, f.evidence) for f in found] == [(counted, (sale, counted))]


# --- the statement -------------------------------------------------------------------------------


def test_the_statement_counts_each_term_with_its_evidence(engine: Engine) -> None:
    w = world(engine)
    base = inventory(w, year=1990, base_year=True, emissions=[{"sector": "transport", "scope": 1, "tonnes": 1_000_000}])
    perm = w.issue(60_000, year=2029)
    farm = w.issue(29_000, project="farm", year=2029)
    removal = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 40_000}
    inv = inventory(w, removals=[removal])
    r1 = retired_for(w, perm, "city-a")
    r2 = retired_for(w, farm, "city-a")
    c1 = claim(w, "city-a", r1, perm)
    c2 = claim(w, "city-a", r2, farm)
    result = statement(w)
    assert {k: result[k] for k in ("gross_emissions", "sold_credits", "in_boundary_removals", "retired_credits")} == {
        "gross_emissions": 129_000,
        "sold_credits": 0,
        "in_boundary_removals": 40_000,
        "retired_credits": 89_000,
    }
    assert (result["positive"], result["negative"], result["net"]) == (129_000, 129_000, 0)
    assert result["shares"]["compensation_of_base_year"] | {"evidence": None} == {
        "tonnes": 129_000,
        "percent": "12.90",
        "base_year": 1990,
        "of": 1_000_000,
        "evidence": None,
    }
    perm_issued = result["terms"]["retired_credits"]["projects"][1]["evidence"]
    assert result["shares"]["durable"] == {"tonnes": 60_000, "of": 129_000, "percent": "46.51", "evidence": perm_issued}
    assert c1 in perm_issued and r1 in perm_issued
    assert result["terms"]["gross_emissions"]["by_sector"] == {
        "stationary-energy": 80_000,
        "transport": 40_000,
        "waste": 9_000,
        "ippu": 0,
        "afolu": 0,
    }
    assert result["terms"]["gross_emissions"]["by_scope"] == {"1": 90_000, "2": 30_000, "3": 9_000}
    assert [(p["project"], p["tonnes"], p["claims"]) for p in result["terms"]["retired_credits"]["projects"]] == [
        ("farm", 29_000, [c2]),
        ("perm", 60_000, [c1]),
    ]
    assert [(e["project"], e["tonnes"], e["expires"]) for e in result["expiring"]] == [("farm", 29_000, "2037-12-31")]
    assert {inv, base, r1, r2, c1, c2} <= set(result["evidence"])
    assert result["warnings"] == []
    assert result["exclusions"] == []


def test_the_statement_warns_above_the_residual_cap_and_for_sectors_not_estimated(engine: Engine) -> None:
    w = world(engine)
    inventory(w, year=1990, base_year=True, emissions=[{"sector": "transport", "scope": 1, "tonnes": 100_000}])
    serial = w.issue(20_001, year=2029)
    claim(w, "city-a", retired_for(w, serial, "city-a"), serial)
    inventory(w, emissions=[*GROSS, {"sector": "transport", "scope": 3, "notation": "NE"}])
    codes = [warning["code"] for warning in statement(w)["warnings"]]
    assert codes == ["not-estimated", "compensation-above-residual-cap"]
    assert statement(w)["shares"]["compensation_of_base_year"]["percent"] == "20.00"  # 20.001% rounds to 20.00


def test_the_statement_lists_what_it_excludes_and_why(engine: Engine) -> None:
    w = world(engine)
    inventory(w)
    avoid = w.issue(300, project="avoid", year=2029)
    retired_for(w, avoid, "city-a", holder="supplier-2")
    perm = w.issue(100, year=2029)
    unclaimed = retired_for(w, perm, "city-a")
    result = statement(w)
    assert [(e["code"], e["tonnes"]) for e in result["exclusions"]] == [("not-a-removal", 300), ("not-claimed", 100)]
    assert result["exclusions"][1]["evidence"] == [unclaimed]
    assert result["retired_credits"] == 0
    with pytest.raises(NotRemovalError):
        claim(w, "city-a", result["exclusions"][0]["evidence"][0], avoid)


def test_a_reversal_after_the_claim_is_reported_and_leaves_the_claim_standing(engine: Engine) -> None:
    w = world(engine)
    inventory(w)
    serial = w.issue(1000, year=2029, buffer=100)
    claimed = serial.sub(serial.first + 100, serial.first + 199)  # the first 100 are the buffer pool
    retirement = retired_for(w, claimed, "city-a")
    claim(w, "city-a", retirement, claimed)
    wildfire = commands.cancel(w.origin, OPERATOR, "reversal", "wildfire", project="perm", quantity=50)
    fire = w.submit(wildfire, OPERATOR).index
    result = statement(w)
    assert result["retired_credits"] == 100
    assert [(r["tonnes"], r["from_buffer"], r["to_replace"], r["evidence"][-1]) for r in result["reversals"]] == [
        (50, 50, 0, fire)
    ]
    # The claimed units themselves cannot be cancelled: a retirement is irreversible.
    beyond = commands.cancel(
        w.origin, OPERATOR, "reversal", "wildfire", project="perm", quantity=100, serial=str(claimed)
    )
    with pytest.raises(UnitsRetiredError):
        w.submit(beyond, OPERATOR)


def test_non_crcf_removals_without_a_corresponding_adjustment_are_a_contribution_only(engine: Engine) -> None:
    w = world(engine)
    command = commands.register_project(
        w.origin,
        project="selva",
        supplier="supplier",
        name="Selva",
        method="afforestation-reforestation",
        unit_type="removal",
        location={"country": "CO"},
        methodology="VM0047",
        scheme="Verra VCS",
    )
    w.submit(command, "supplier")
    inventory(w)
    plain = w.issue(700, project="selva", year=2029)
    adjusted = w.issue(300, project="selva", year=2028, corresponding_adjustment=True)
    claim(w, "city-a", retired_for(w, plain, "city-a"), plain)
    claim(w, "city-a", retired_for(w, adjusted, "city-a"), adjusted)
    result = statement(w)
    assert result["retired_credits"] == 300
    assert [(e["code"], e["tonnes"]) for e in result["exclusions"]] == [("contribution-only", 700)]
    assert [x["code"] for x in result["warnings"]] == ["not-crcf", "no-base-year"]


def test_a_statement_needs_a_city_and_its_inventory(engine: Engine) -> None:
    w = world(engine)
    with pytest.raises(RecordNotFoundError, match="no city account 'buyer'"):
        statement(w, "buyer")
    with pytest.raises(RecordNotFoundError, match="'city-a' has no inventory for 2029"):
        statement(w)


def test_percent_rounds_half_up_in_integers() -> None:
    assert [balance.percent(1, 3), balance.percent(2, 3), balance.percent(1, 8), balance.percent(5, 5)] == [
        "33.33",
        "66.67",
        "12.50",
        "100.00",
    ]


# --- reporting periods, and what the review of the first version found -----------------------------


def fiscal(year: int) -> tuple[str, str]:
    return (f"{year - 1}-07-01", f"{year}-06-30")


def test_a_retirement_claimed_against_a_fiscal_year_must_overlap_it(engine: Engine) -> None:
    w = world(engine)
    inventory(w, year=2013, period=fiscal(2013))
    inventory(w, year=2014, period=fiscal(2014))
    serial = w.issue(100)
    fy2014 = w.submit(
        commands.retire(
            w.origin,
            "supplier",
            str(serial.sub(serial.first, serial.first + 9)),
            "compensation",
            "FI",
            beneficiary_account="city-a",
            period=fiscal(2014),
        ),
        "supplier",
    ).index
    with pytest.raises(WrongPeriodError, match=r"not for 2013 \(2012-07-01..2013-06-30\)"):
        claim(w, "city-a", fy2014, serial.sub(serial.first, serial.first + 9), year=2013)
    claim(w, "city-a", fy2014, serial.sub(serial.first, serial.first + 9), year=2014)
    # A calendar-2013 retirement overlaps fiscal 2014 by half: it may be claimed for it.
    calendar = retired_for(w, serial.sub(serial.first + 10, serial.first + 19), "city-a", year=2013)
    claim(w, "city-a", calendar, serial.sub(serial.first + 10, serial.first + 19), year=2014)


def test_the_reporting_period_cannot_move_once_claimed_against(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100, year=2029)
    claim(w, "city-a", retired_for(w, serial, "city-a"), serial)
    with pytest.raises(RuleError, match="the reporting period cannot change once claimed against") as moved:
        inventory(w, period=fiscal(2029))
    assert moved.value.field == "period"
    first = inventory(w)  # the calendar year the claim was checked against
    with pytest.raises(RuleError, match="cannot change"):
        inventory(w, period=fiscal(2029), revises=first)


@pytest.mark.parametrize(
    ("period", "accepted"),
    [(("2029-01-01", "2029-01-01"), False), (("2028-01-01", "2029-01-01"), False), (fiscal(2029), True)],
)
def test_a_reporting_period_is_one_year(engine: Engine, period: tuple[str, str], accepted: bool) -> None:
    w = world(engine)
    if accepted:
        inventory(w, period=period)
        return
    with pytest.raises(InvalidEventError) as refused:
        inventory(w, period=period)
    assert refused.value.field == "period"


def test_scope_must_be_a_number_not_true(engine: Engine) -> None:
    w = world(engine)
    with pytest.raises(InvalidEventError) as refused:
        inventory(w, emissions=[{"sector": "transport", "scope": True, "tonnes": 5}])
    assert refused.value.field == "emissions.0.scope"


def test_a_batch_sold_from_a_counted_removal_is_added_to_its_vintage_year_only(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    command = commands.issue(
        w.origin,
        project="forest",
        supplier="city-a",
        verifier="verifier",
        monitoring_period=("2028-01-01", "2029-12-31"),
        vintage=2029,
        quantity=10_000,
        report_sha256="cd" * 32,
        expires="2036-12-31",
    )
    w.submit(command, "city-a", "verifier")
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 5_000, "project": "forest"}
    inventory(w, year=2028, removals=[line])
    inventory(w, year=2029, removals=[line])
    forest = "forest.2029.1.1-10000"
    w.submit(commands.sell(w.origin, "city-a", "buyer", forest, price=("1", "EUR")), "city-a")
    assert (statement(w, year=2028)["sold_credits"], statement(w, year=2029)["sold_credits"]) == (0, 10_000)


def test_an_unlinked_removal_line_beside_a_claim_on_an_in_boundary_project_is_warned(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000}
    inventory(w, removals=[line])
    claim(w, "city-a", retired_for(w, forest, "city-a", holder="city-a"), forest)
    result = statement(w)
    assert [x["code"] for x in result["warnings"]] == ["possibly-counted-twice", "no-base-year"]


def test_unclaimed_retirements_name_the_reason_a_claim_would_be_refused(engine: Engine) -> None:
    w = world(engine)
    city_forest(w)
    forest = w.issue(1000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 1000, "project": "forest"}
    counted = inventory(w, removals=[line])
    retirement = retired_for(w, forest, "city-a", holder="city-a")
    exclusions = statement(w)["exclusions"]
    assert [(e["code"], e["tonnes"], e["evidence"]) for e in exclusions] == [
        ("counted-in-inventory", 1000, [counted, retirement])
    ]
