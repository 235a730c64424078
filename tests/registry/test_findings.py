"""Double issuance and double use: each case from real signed events, with its exact finding and evidence.

Double use cannot pass the registry (its handlers refuse it), so those cases append their
entries around it, straight to the log, as a faulty or dishonest writer would: the entry is
void, changes nothing, and is named by a finding when the registry next reads its log.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.database import create_engine
from ledger.keys import SignerKey
from registry import commands, eligibility, findings, replay
from registry.errors import BlockedByFindingsError, NotHolderError, RecordNotFoundError, UnitsRetiredError
from registry.findings import Kind, Severity, Units
from registry.lineage import Lineage, to_graphml, to_json
from registry.serials import SerialRange
from tests.builders import World, world


def all_findings(w: World) -> list[findings.Finding]:
    with w.engine.connect() as conn:
        return findings.load(conn)


def around(w: World, command: commands.Command, *signers: str) -> int:
    """Append a signed event straight to the log, bypassing the registry's rules; return its index."""
    (index,) = w.sequencer.append([w.envelope(command, *signers)])
    return index


def read_log(w: World) -> None:
    """Let the registry catch up with the entries appended around it (as its next write does)."""
    replay.catch_up(w.sequencer)


def replays_to_the_same_state(w: World) -> None:
    scratch = create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    replay.verify_state(w.sequencer.store, w.origin, w.engine, scratch)
    scratch.dispose()


# --- double issuance ------------------------------------------------------------------------------


def test_two_issuances_for_overlapping_monitoring_periods(engine: Engine) -> None:
    w = world(engine)
    first = w.issue(100, year=2028)
    issued_first = w.log_size() - 1
    w.issue(50, year=2029)  # another period: no overlap, no finding
    assert all_findings(w) == []
    command = commands.issue(
        w.origin,
        project="perm",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2028-07-01", "2029-06-30"),
        vintage=2029,
        quantity=70,
        report_sha256="ef" * 32,
    )
    again = w.submit(command, "supplier", "verifier").index
    # July 2028 to June 2029 overlaps both earlier batches: one finding for each.
    on_first, on_second = all_findings(w)
    for found, earlier in ((on_first, issued_first), (on_second, issued_first + 1)):
        assert (found.idx, found.kind, found.severity) == (again, Kind.OVERLAPPING_ISSUANCE, Severity.BLOCKING)
        assert found.evidence == (earlier, again)
        assert found.units == (Units(3, first.last + 51, first.last + 120),)
        assert found.project == "perm" and found.account == "supplier"
    assert "overlaps batch 1 (2028-01-01..2028-12-31, issued at entry" in on_first.message
    assert "overlaps batch 2 (2029-01-01..2029-12-31" in on_second.message
    replays_to_the_same_state(w)


def test_overlapping_issuance_blocks_claims_on_the_later_batch_only(engine: Engine) -> None:
    w = world(engine)
    first = w.issue(100, year=2028)
    second = w.issue(100, year=2028)
    lineage = Lineage(engine)
    retired_first = w.retire(first.sub(first.first, first.first + 9), "supplier").index
    retired_second = w.retire(second.sub(second.first, second.first + 9), "supplier").index
    with engine.connect() as conn:
        checked = eligibility.check_retirement(conn, lineage, retired_first)
        assert [step.index for step in checked.path] == [w.log_size() - 4, retired_first]
        with pytest.raises(BlockedByFindingsError) as refused:
            eligibility.check_retirement(conn, lineage, retired_second)
    assert [f["kind"] for f in refused.value.findings] == ["overlapping-issuance"]
    assert refused.value.findings[0]["evidence"] == [w.log_size() - 4, w.log_size() - 3]


# --- double use -----------------------------------------------------------------------------------


def test_the_same_block_retired_twice(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 9)
    w.transfer(units, "supplier", "city-a")
    retired = w.retire(units, "city-a").index
    again = commands.retire(
        w.origin, "city-a", str(units), "compensation", "FI-19", beneficiary_account="city-b", year=2030
    )
    with pytest.raises(UnitsRetiredError):  # the registry itself refuses it...
        w.submit(again, "city-a")
    forged = around(w, again, "city-a")  # ...so a faulty writer appends it around the registry
    read_log(w)
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.severity) == (forged, Kind.RETIRED_TWICE, Severity.BLOCKING)
    assert found.evidence == (retired, forged)
    assert found.units == (Units(units.batch, units.first, units.last),)
    assert found.account == "city-a"
    with engine.connect() as conn:
        beneficiaries = conn.execute(sa.text("SELECT beneficiary_account FROM reg_retirements")).scalars().all()
        assert beneficiaries == ["city-a"]  # the void entry changed nothing
        with pytest.raises(BlockedByFindingsError) as refused:
            eligibility.check_retirement(conn, Lineage(engine), retired)
    assert refused.value.findings[0]["evidence"] == [retired, forged]
    replays_to_the_same_state(w)


def test_retired_after_transfer(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 19)
    moved = w.transfer(units, "supplier", "city-a").index
    forged = around(
        w,
        commands.retire(w.origin, "supplier", str(units), "compensation", "FI-19", beneficiary_name="X", year=2029),
        "supplier",
    )
    read_log(w)
    (found,) = all_findings(w)
    assert (found.idx, found.kind) == (forged, Kind.RETIRED_AFTER_TRANSFER)
    assert found.evidence == (moved, forged)  # the transfer away is the evidence, and when city-a got them
    retired = w.retire(units, "city-a").index  # the holder's own retirement is accepted...
    with engine.connect() as conn, pytest.raises(BlockedByFindingsError) as refused:
        eligibility.check_retirement(conn, Lineage(engine), retired)  # ...but cannot be claimed
    assert [f["kind"] for f in refused.value.findings] == ["retired-after-transfer"]
    replays_to_the_same_state(w)


def test_retired_by_a_non_holder(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first + 50, serial.first + 59)
    with pytest.raises(NotHolderError):
        w.retire(units, "buyer")
    forged = around(
        w,
        commands.retire(w.origin, "buyer", str(units), "compensation", "FI-19", beneficiary_account="buyer", year=2029),
        "buyer",
    )
    read_log(w)
    (found,) = all_findings(w)
    assert (found.idx, found.kind) == (forged, Kind.RETIRED_BY_NON_HOLDER)
    assert found.evidence == (forged - 1, forged)  # the supplier holds them since the issuance
    assert "are held by 'supplier'" in found.message
    other = serial.sub(serial.first + 60, serial.first + 69)
    clean = w.retire(other, "supplier").index
    with engine.connect() as conn:
        assert eligibility.check_retirement(conn, Lineage(engine), clean).findings == []
    replays_to_the_same_state(w)


@pytest.mark.parametrize("kind", ["transfer", "sale"])
def test_moved_after_retirement_and_by_a_non_holder(engine: Engine, kind: str) -> None:
    w = world(engine)
    serial = w.issue(100)
    retired_units = serial.sub(serial.first, serial.first + 4)
    retired = w.retire(retired_units, "supplier").index
    other = serial.sub(serial.first + 5, serial.first + 9)

    def move(units: SerialRange, sender: str) -> commands.Command:
        if kind == "sale":
            return commands.sell(w.origin, sender, "city-b", str(units), price=("10.00", "EUR"))
        return commands.transfer(w.origin, sender, "city-b", str(units))

    after_retirement = around(w, move(retired_units, "supplier"), "supplier")
    by_non_holder = around(w, move(other, "buyer"), "buyer")
    read_log(w)
    first, second = all_findings(w)
    assert (first.kind, first.evidence, first.idx) == (
        Kind.MOVED_AFTER_RETIREMENT,
        (retired, after_retirement),
        after_retirement,
    )
    assert (second.kind, second.account, second.idx) == (Kind.MOVED_BY_NON_HOLDER, "buyer", by_non_holder)
    assert second.units == (Units(other.batch, other.first, other.last),)
    replays_to_the_same_state(w)


def test_used_after_cancellation_and_a_duplicate_entry(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 9)
    cancelled = w.submit(
        commands.cancel(w.origin, "operator", "invalidation", "issued in error", serial=str(units)), "operator"
    ).index
    retire = commands.retire(
        w.origin, "supplier", str(units), "compensation", "FI-19", beneficiary_account="supplier", year=2029
    )
    void = around(w, retire, "supplier")
    transfer = commands.transfer(w.origin, "supplier", "city-a", str(serial.sub(serial.first + 10, serial.first + 19)))
    moved = w.submit(transfer, "supplier").index
    twice = around(w, transfer, "supplier")  # the same accepted event, logged again
    read_log(w)
    first, second = all_findings(w)
    assert (first.kind, first.evidence) == (Kind.USED_AFTER_CANCELLATION, (cancelled, void))
    assert (second.kind, second.severity, second.evidence) == (Kind.DUPLICATE_ENTRY, Severity.WARNING, (moved, twice))
    replays_to_the_same_state(w)


# --- the graph ------------------------------------------------------------------------------------


def test_trace_follows_splits_transfers_and_a_retirement(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100, buffer=10)
    issued = w.log_size() - 1
    a = w.transfer(serial.sub(serial.first + 10, serial.first + 59), "supplier", "city-a").index
    b = w.transfer(serial.sub(serial.first + 20, serial.first + 29), "city-a", "buyer").index
    c = w.retire(serial.sub(serial.first + 25, serial.first + 26), "buyer").index
    w.transfer(serial.sub(serial.first + 60, serial.first + 69), "supplier", "city-b")  # not on the path
    lineage = Lineage(engine)
    unit = serial.sub(serial.first + 25, serial.first + 25)
    with engine.connect() as conn:
        path = lineage.trace(conn, unit)
        steps = [(s.index, s.part, s.kind, s.sender, s.receiver) for s in path]
        assert steps == [
            (issued, 1, "issuance", None, "supplier"),
            (a, 0, "transfer", "supplier", "city-a"),
            (b, 0, "transfer", "city-a", "buyer"),
            (c, 0, "retirement", "buyer", "buyer"),
        ]
        assert [s.parents for s in path] == [(), ((issued, 1),), ((a, 0),), ((b, 0),)]
        assert str(path[2].serial) == str(serial.sub(serial.first + 20, serial.first + 29))
        buffer = lineage.trace(conn, serial.sub(serial.first, serial.first))
        assert [(s.index, s.part, s.kind) for s in buffer] == [(issued, 0, "buffer")]
        whole = lineage.trace(conn, serial)
        assert len(whole) == 6  # buffer, issuance and every later step, each once
        with pytest.raises(RecordNotFoundError):
            lineage.trace(conn, SerialRange("perm", 2028, 9, 10_000, 10_001))
    graph = to_json(path)
    assert graph["edges"][0] == {"from": {"index": issued, "part": 1}, "to": {"index": a, "part": 0}}
    assert f'<node id="{c}.0">' in to_graphml(path)


def test_the_graph_stays_current_by_reading_only_new_steps(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    lineage = Lineage(engine)
    assert lineage.refresh() == 1
    assert lineage.refresh() == 0
    w.transfer(serial.sub(serial.first, serial.first + 1), "supplier", "city-a")
    w.transfer(serial.sub(serial.first + 2, serial.first + 3), "supplier", "city-a")
    assert lineage.refresh() == 2
    assert len(lineage) == 3


def test_an_entry_signed_by_no_bound_key_freezes_no_units_and_blames_no_one(engine: Engine) -> None:
    w = world(engine)
    serial = w.issue(100)
    units = serial.sub(serial.first, serial.first + 9)
    stranger = SignerKey.generate("stranger")
    command = commands.transfer(w.origin, "supplier", "city-a", str(units))
    (forged,) = w.sequencer.append([commands.sign(command, [stranger])])
    read_log(w)
    (found,) = all_findings(w)
    assert (found.idx, found.kind, found.units, found.account) == (forged, Kind.VOID_ENTRY, (), None)
    assert found.detail == {"error": "unauthorised", "signer": "supplier"}
    retired = w.retire(units, "supplier").index  # the supplier's own units stay claimable
    with engine.connect() as conn:
        assert eligibility.check_retirement(conn, Lineage(engine), retired).findings == []
