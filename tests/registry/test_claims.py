"""Claims and double claiming: each rule refuses a claim that breaks it and accepts one that keeps it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from registry import commands, findings, schema
from registry.errors import (
    AlreadyClaimedError,
    BlockedByFindingsError,
    NotBeneficiaryError,
    NotRemovalError,
    RuleError,
    SoldUnitsError,
    UnitsExpiredError,
    UnknownError,
    WrongPeriodError,
)
from registry.findings import Kind
from registry.serials import SerialRange
from tests.builders import World, world
from tests.registry.test_findings import around, read_log, replays_to_the_same_state


def retired_for(w: World, serial: SerialRange, city: str, year: int = 2029, holder: str = "supplier") -> int:
    """Retire ``serial`` (held by ``holder``) for ``city`` and ``year``; return the retirement's index."""
    return w.retire(serial, holder, beneficiary=city, year=year).index


def claim(w: World, city: str, retirement: int, serial: SerialRange, year: int = 2029) -> int:
    return w.submit(commands.claim(w.origin, city, retirement, str(serial), year), city).index


def claimed(w: World) -> list[tuple[str, int, int, int]]:
    with w.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.claims).order_by(schema.claims.c.idx))
        return [(r.city, r.first, r.last, r.year) for r in rows]


def test_a_city_claims_its_retirement_whole_or_in_part(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 19)
    retirement = retired_for(w, units, "city-a")
    claim(w, "city-a", retirement, units.sub(units.first, units.first + 9))
    claim(w, "city-a", retirement, units.sub(units.first + 10, units.last))
    assert claimed(w) == [
        ("city-a", units.first, units.first + 9, 2029),
        ("city-a", units.first + 10, units.last, 2029),
    ]
    replays_to_the_same_state(w)


def test_the_same_units_are_claimed_once_only(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 9)
    retirement = retired_for(w, units, "city-a")
    first = claim(w, "city-a", retirement, units)
    with pytest.raises(AlreadyClaimedError) as twice:
        claim(w, "city-a", retirement, units.sub(units.first + 5, units.last), year=2029)
    assert (twice.value.index, twice.value.account, twice.value.serials) == (
        first,
        "city-a",
        str(units.sub(units.first + 5, units.last)),
    )
    # A second city cannot claim them either: the retirement is not for it.
    with pytest.raises(NotBeneficiaryError, match="is for 'city-a'"):
        claim(w, "city-b", retirement, units)
    assert len(claimed(w)) == 1


def test_only_the_beneficiary_claims(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    for_b = retired_for(w, serial.sub(serial.first, serial.first + 9), "city-b")
    with pytest.raises(NotBeneficiaryError) as refused:
        claim(w, "city-a", for_b, serial.sub(serial.first, serial.first + 9))
    assert refused.value.field == "city"
    claim(w, "city-b", for_b, serial.sub(serial.first, serial.first + 9))
    with pytest.raises(RuleError, match="only cities claim"):
        w.submit(commands.claim(w.origin, "buyer", for_b, str(serial.sub(serial.first, serial.first)), 2029), "buyer")
    with pytest.raises(UnknownError):
        claim(w, "city-b", 999, serial.sub(serial.first, serial.first))
    with pytest.raises(RuleError, match="is not part of the units retired"):
        claim(w, "city-b", for_b, serial.sub(serial.first + 9, serial.first + 10))


@pytest.mark.parametrize("unit_type", ["avoidance", "reduction", "soil-emission-reduction"])
def test_only_removals_compensate(engine: Engine, unit_type: str) -> None:
    w = world(engine)
    command = commands.register_project(
        w.origin,
        project="not-removal",
        supplier="supplier",
        name="Not a removal",
        method="other",
        unit_type=unit_type,
        location={"country": "FI"},
        methodology="m",
        scheme="s",
    )
    w.submit(command, "supplier")
    expiry: dict[str, Any] = {"expires": "2040-12-31"} if unit_type == "soil-emission-reduction" else {}
    serial = w.issue(50, project="not-removal", **expiry)
    retirement = retired_for(w, serial, "city-a")
    with pytest.raises(NotRemovalError, match=f"are {unit_type} units, not removals"):
        claim(w, "city-a", retirement, serial)
    removal = w.issue(50)
    claim(w, "city-a", retired_for(w, removal, "city-a"), removal)


def test_a_retirement_is_claimed_for_its_own_period(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    retirement = retired_for(w, serial, "city-a", year=2029)
    with pytest.raises(WrongPeriodError, match="not for 2030"):
        claim(w, "city-a", retirement, serial, year=2030)
    claim(w, "city-a", retirement, serial, year=2029)


def test_temporary_units_are_not_claimed_after_their_expiry(engine: Engine) -> None:
    w = world(engine)
    farm = w.issue(100, project="farm", year=2028)  # carbon farming, expires 2036-12-31
    late = retired_for(w, farm.sub(farm.first, farm.first + 9), "city-a", year=2037)
    with pytest.raises(UnitsExpiredError, match="expire on 2036-12-31, before the end of 2037"):
        claim(w, "city-a", late, farm.sub(farm.first, farm.first + 9), year=2037)
    in_time = retired_for(w, farm.sub(farm.first + 10, farm.first + 19), "city-a", year=2036)
    claim(w, "city-a", in_time, farm.sub(farm.first + 10, farm.first + 19), year=2036)


def test_a_city_cannot_claim_credits_it_sold(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 9)
    w.transfer(units, "supplier", "city-a")
    sale = w.submit(commands.sell(w.origin, "city-a", "buyer", str(units), price=("100.00", "EUR")), "city-a").index
    retirement = retired_for(w, units, "city-a", holder="buyer")  # the buyer retires them for the city
    with pytest.raises(SoldUnitsError, match=f"sold units of .* at log index {sale}"):
        claim(w, "city-a", retirement, units)
    other = serial.sub(serial.first + 10, serial.first + 19)
    w.transfer(other, "supplier", "buyer")
    claim(w, "city-a", retired_for(w, other, "city-a", holder="buyer"), other)  # bought, never sold: fine


def test_a_blocking_finding_refuses_the_claim(engine: Engine) -> None:
    w = world(engine)
    w.issue(100, year=2028)
    second = w.issue(100, year=2028)  # the same project, the same monitoring period: overlapping issuance
    retirement = retired_for(w, second, "city-a")
    with pytest.raises(BlockedByFindingsError) as refused:
        claim(w, "city-a", retirement, second)
    assert [f["kind"] for f in refused.value.findings] == ["overlapping-issuance"]


def test_a_second_claim_logged_around_the_registry_is_void_and_named(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    retirement = retired_for(w, serial, "city-a")
    first = claim(w, "city-a", retirement, serial)
    forged = around(w, commands.claim(w.origin, "city-a", retirement, str(serial), 2029), "city-a")
    read_log(w)
    with w.engine.connect() as conn:
        (found,) = findings.load(conn)
    assert (found.idx, found.kind, found.evidence) == (forged, Kind.CLAIMED_TWICE, (retirement, first, forged))
    assert len(claimed(w)) == 1
    replays_to_the_same_state(w)
