"""Random sequences of valid and invalid events, with the invariants checked after every step.

A hypothesis state machine drives a registry and a plain model of it (one entry per unit:
who holds it and in what state). After every step:

- issued = held + buffer + retired + cancelled, for every batch;
- the blocks of every batch never overlap and cover it exactly;
- every unit is where the model says: so nothing moved after retirement or cancellation,
  and every refused event changed nothing;
- replaying the log from entry 0 into an empty database gives exactly the live state;
- city-a's statement for 2029 counts exactly the units the model says it claimed, and lists
  exactly the rest of what was retired for it as not claimed (registry.balance).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy.engine import Engine

from ledger.database import create_engine
from ledger.keys import SignerKey
from registry import balance, commands, replay
from registry.errors import (
    AlreadyClaimedError,
    BlockedByFindingsError,
    InvalidEventError,
    NotHolderError,
    RegistryError,
    RuleError,
    SoldUnitsError,
    UnauthorisedError,
    UnitsCancelledError,
    UnitsRetiredError,
)
from registry.schema import batch_supply, batches, blocks, holder_totals
from registry.serials import SerialRange
from tests.builders import OPERATOR, World, world
from tests.conftest import fresh_database, require_database

HOLDERS = ("supplier", "city-a", "city-b", "buyer")
SIGNERS = (*HOLDERS, "auditor", "verifier", OPERATOR)
Unit = tuple[str | None, str]  # (holder, status)
ACTIONS = (
    ("move",) * 6
    + ("retire",) * 3
    + ("claim",) * 2
    + (
        "issue_more",
        "invalidate",
        "reverse",
        "resubmit",
        "rotate_key",
    )
)


@contextmanager
def fresh_engine(kind: str) -> Iterator[Engine]:
    """An empty database of ``kind`` for one example."""
    with tempfile.TemporaryDirectory() as directory, fresh_database(kind, Path(directory)) as (url, schema):
        engine = create_engine(url, schema=schema)
        try:
            yield engine
        finally:
            engine.dispose()


class RegistryMachine(RuleBasedStateMachine):
    """Drives a registry and its model with the same events."""

    kind = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self._database = fresh_engine(self.kind)
        self.engine = self._database.__enter__()
        self.world: World = world(self.engine)
        self.units: dict[int, Unit] = {}
        self.batches: list[tuple[SerialRange, str]] = []  # (range, project)
        self.accepted: list[tuple[commands.Command, tuple[str, ...], int]] = []
        self.retired_for_city: list[tuple[int, SerialRange]] = []  # city-a's retirements: (index, units)
        self.claimed: set[int] = set()  # units city-a claimed
        self.sold_by_city: set[int] = set()  # units city-a ever sold

    def teardown(self) -> None:
        self.world.registry.close()
        self._database.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------------------

    def _submit(self, command: commands.Command, *signers: str) -> RegistryError | int:
        before = (self.world.state(), self.world.log_size())
        try:
            index = self.world.submit(command, *signers).index
        except RegistryError as exc:
            assert (self.world.state(), self.world.log_size()) == before, f"{exc!r} changed the state"
            return exc
        self.accepted.append((command, signers, index))
        return index

    def _expected_move(self, serial: SerialRange, sender: str) -> type[RegistryError] | None:
        for unit in range(serial.first, serial.last + 1):
            holder, status = self.units[unit]
            if status == "retired":
                return UnitsRetiredError
            if status == "cancelled":
                return UnitsCancelledError
            if status != "held" or holder != sender:
                return NotHolderError
        return None

    def _draw_party(self, data: st.DataObject, serial: SerialRange) -> str:
        # Mostly the units' holder (so that moves succeed and state evolves), sometimes anyone.
        holder = self.units[serial.first][0]
        likely = holder if holder is not None and holder in HOLDERS else "supplier"
        party: str = data.draw(st.sampled_from((likely, likely, likely, *HOLDERS)))
        return party

    def _draw_signer(self, data: st.DataObject, party: str) -> str:
        signer: str = data.draw(st.sampled_from((party,) * 8 + SIGNERS))
        return signer

    def _runs(self) -> list[tuple[SerialRange, SerialRange]]:
        """The model's blocks: maximal runs of units in one state, with their batch."""
        runs = []
        for serial, _project in self.batches:
            start = serial.first
            for unit in range(serial.first + 1, serial.last + 2):
                if unit > serial.last or self.units[unit] != self.units[start]:
                    runs.append((serial, serial.sub(start, unit - 1)))
                    start = unit
        return runs

    def _draw_range(self, data: st.DataObject) -> SerialRange:
        # Mostly a part of one block of held units, sometimes reaching past its end (into
        # another block, or out of the batch's state), so both outcomes are exercised.
        runs = self._runs()
        held = [r for r in runs if self.units[r[1].first][1] == "held"]
        batch, run = data.draw(st.sampled_from(held * 3 + runs))
        first = data.draw(st.integers(run.first, run.last))
        last = data.draw(st.integers(first, run.last))
        if data.draw(st.integers(0, 4)) == 0:
            last = data.draw(st.integers(last, batch.last))
        return batch.sub(first, last)

    # --- rules -----------------------------------------------------------------------------

    @initialize()
    def two_batches(self) -> None:
        self.issue("perm", 40, 2)
        self.issue("farm", 30, 1)
        inventory = commands.inventory(
            self.world.origin, "city-a", 2029, emissions=[{"sector": "transport", "scope": 1, "tonnes": 500}]
        )
        self._check(self._submit(inventory, "city-a"), None)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One event, of a kind drawn with weights that keep credits moving most of the time."""
        action = data.draw(st.sampled_from(ACTIONS))
        getattr(self, action)(data)

    def issue_more(self, data: st.DataObject) -> None:
        project = data.draw(st.sampled_from(["perm", "farm"]))
        self.issue(project, data.draw(st.integers(0, 60)), data.draw(st.integers(0, 3)))

    def issue(self, project: str, quantity: int, buffer_share: int) -> None:
        if quantity == 0:
            self.zero_quantity_is_refused()
            return
        buffer = min(quantity - 1, quantity * buffer_share // 10)
        serial = self.world.issue(quantity, project=project, buffer=buffer)
        self.batches.append((serial, project))
        for unit in range(serial.first, serial.last + 1):
            self.units[unit] = (None, "buffer") if unit < serial.first + buffer else ("supplier", "held")

    def move(self, data: st.DataObject) -> None:
        sale = data.draw(st.booleans())
        serial = self._draw_range(data)
        sender = self._draw_party(data, serial)
        to = data.draw(st.sampled_from((*HOLDERS, "auditor")))
        signer = self._draw_signer(data, sender)
        o = self.world.origin
        command = (
            commands.sell(o, sender, to, str(serial), price=("10.00", "EUR"))
            if sale
            else commands.transfer(o, sender, to, str(serial))
        )
        outcome = self._submit(command, signer)
        expected: type[RegistryError] | None
        if sender == to:
            expected = InvalidEventError
        elif signer != sender:
            expected = UnauthorisedError
        elif to == "auditor":
            expected = RuleError
        else:
            expected = self._expected_move(serial, sender)
        self._check(outcome, expected)
        if expected is None:
            for unit in range(serial.first, serial.last + 1):
                self.units[unit] = (to, "held")
            if sale and sender == "city-a":
                self.sold_by_city.update(range(serial.first, serial.last + 1))

    def retire(self, data: st.DataObject) -> None:
        serial = self._draw_range(data)
        holder = self._draw_party(data, serial)
        signer = self._draw_signer(data, holder)
        command = commands.retire(
            self.world.origin, holder, str(serial), "compensation", "FI-19", beneficiary_account="city-a", year=2029
        )
        outcome = self._submit(command, signer)
        expected = UnauthorisedError if signer != holder else self._expected_move(serial, holder)
        self._check(outcome, expected)
        if expected is None:
            for unit in range(serial.first, serial.last + 1):
                self.units[unit] = (holder, "retired")
            assert isinstance(outcome, int)
            self.retired_for_city.append((outcome, serial))

    def _first_of_its_project(self, serial: SerialRange) -> bool:
        batch = next(b for b, _ in self.batches if b.batch == serial.batch)
        return next(b for b, p in self.batches if p == serial.project).batch == batch.batch

    def claim(self, data: st.DataObject) -> None:
        """city-a claims part of a retirement made for it, for 2029 (as every retirement here is)."""
        if not self.retired_for_city:
            return
        retirement, retired = data.draw(st.sampled_from(self.retired_for_city))
        first = data.draw(st.integers(retired.first, retired.last))
        serial = retired.sub(first, data.draw(st.integers(first, retired.last)))
        signer = self._draw_signer(data, "city-a")
        outcome = self._submit(commands.claim(self.world.origin, "city-a", retirement, str(serial), 2029), signer)
        units = set(range(serial.first, serial.last + 1))
        expected: type[RegistryError] | None = None
        if signer != "city-a":
            expected = UnauthorisedError
        elif units & self.claimed:  # the claim rules' order: claimed before, then sold (registry.claims)
            expected = AlreadyClaimedError
        elif units & self.sold_by_city:
            expected = SoldUnitsError
        elif not self._first_of_its_project(serial):
            # Every batch is issued for 2028, so a project's later batches overlap its first: an
            # overlapping-issuance finding blocks claims on them (registry.findings).
            expected = BlockedByFindingsError
        self._check(outcome, expected)
        if expected is None:
            self.claimed |= units

    def invalidate(self, data: st.DataObject) -> None:
        serial = self._draw_range(data)
        command = commands.cancel(self.world.origin, OPERATOR, "invalidation", "test", serial=str(serial))
        outcome = self._submit(command, OPERATOR)
        expected: type[RegistryError] | None = None
        for unit in range(serial.first, serial.last + 1):
            status = self.units[unit][1]
            if status in ("retired", "cancelled"):
                expected = UnitsRetiredError if status == "retired" else UnitsCancelledError
                break
        self._check(outcome, expected)
        if expected is None:
            for unit in range(serial.first, serial.last + 1):
                self.units[unit] = (self.units[unit][0], "cancelled")

    def reverse(self, data: st.DataObject) -> None:
        project = data.draw(st.sampled_from(["perm", "farm"]))
        quantity = data.draw(st.integers(1, 30))
        # A reversal draws from the project's buffer pool, oldest batch first (registry.cancellations).
        pool = [
            unit
            for serial, p in self.batches
            if p == project
            for unit in range(serial.first, serial.last + 1)
            if self.units[unit][1] == "buffer"
        ]
        command = commands.cancel(self.world.origin, OPERATOR, "reversal", "fire", project=project, quantity=quantity)
        outcome = self._submit(command, OPERATOR)
        self._check(outcome, None if len(pool) >= quantity else RuleError)
        if len(pool) >= quantity:
            for unit in pool[:quantity]:
                self.units[unit] = (None, "cancelled")

    def resubmit(self, data: st.DataObject) -> None:
        if not self.accepted:
            return
        command, signers, index = data.draw(st.sampled_from(self.accepted))
        before = (self.world.state(), self.world.log_size())
        applied = self.world.submit(command, *signers)
        assert applied.duplicate
        assert applied.index == index
        assert (self.world.state(), self.world.log_size()) == before

    def rotate_key(self, data: st.DataObject) -> None:
        holder = data.draw(st.sampled_from(HOLDERS))
        old = self.world.keys[holder]
        new = SignerKey.generate(holder)
        command = commands.rotate_key(
            self.world.origin, OPERATOR, holder, old.verifier.dsse_key_id, commands.public_key(new)
        )
        self._check(self._submit(command, OPERATOR), None)
        self.world.keys[holder] = new
        # The old key must no longer sign for the holder.
        probe = commands.transfer(
            self.world.origin, holder, "buyer" if holder != "buyer" else "city-a", "perm.2028.1.1-1"
        )
        before = self.world.log_size()
        with pytest.raises(UnauthorisedError, match="revoked"):
            self.world.registry.submit(commands.sign(probe, [old]))
        assert self.world.log_size() == before

    def zero_quantity_is_refused(self) -> None:
        command = commands.issue(
            self.world.origin,
            project="perm",
            supplier="supplier",
            verifier="verifier",
            monitoring_period=("2028-01-01", "2028-12-31"),
            vintage=2028,
            quantity=0,
            report_sha256="cd" * 32,
        )
        outcome = self._submit(command, "supplier", "verifier")
        assert isinstance(outcome, InvalidEventError)
        assert outcome.field == "quantity"

    def _check(self, outcome: RegistryError | int, expected: type[RegistryError] | None) -> None:
        if expected is None:
            assert isinstance(outcome, int), f"expected acceptance, got {outcome!r}"
        else:
            assert isinstance(outcome, expected), f"expected {expected.__name__}, got {outcome!r}"

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def supply_is_conserved_and_blocks_tile_their_batches(self) -> None:
        with self.engine.connect() as conn:
            for batch in conn.execute(sa.select(batches).order_by(batches.c.number)):
                rows = conn.execute(
                    sa.select(blocks).where(blocks.c.batch == batch.number).order_by(blocks.c.first)
                ).all()
                assert rows[0].first == batch.first
                assert rows[-1].last == batch.last
                for left, right in itertools.pairwise(rows):
                    assert left.last + 1 == right.first, f"blocks {left} and {right} overlap or leave a gap"
                by_status = {"held": 0, "buffer": 0, "retired": 0, "cancelled": 0}
                for row in rows:
                    by_status[row.status] += row.last - row.first + 1
                assert sum(by_status.values()) == batch.quantity  # issued = held + buffer + retired + cancelled
                # The supply counters the batch pages read agree with the blocks, refused events included.
                counted = conn.execute(sa.select(batch_supply).where(batch_supply.c.batch == batch.number)).one()
                assert {status: getattr(counted, status) for status in by_status} == by_status

    @invariant()
    def holder_totals_add_up_the_blocks(self) -> None:
        with self.engine.connect() as conn:
            summed: dict[tuple[str, str], int] = {}
            for row in conn.execute(sa.select(blocks).where(blocks.c.holder.is_not(None))):
                key = (row.holder, row.status)
                summed[key] = summed.get(key, 0) + row.last - row.first + 1
            kept = {(r.holder, r.status): r.units for r in conn.execute(sa.select(holder_totals))}
        assert kept == summed  # and no row for a total of zero

    @invariant()
    def every_unit_is_where_the_model_says(self) -> None:
        with self.engine.connect() as conn:
            found: dict[int, Unit] = {}
            for row in conn.execute(sa.select(blocks)):
                for unit in range(row.first, row.last + 1):
                    found[unit] = (row.holder, row.status)
        assert found == self.units

    @invariant()
    def the_statement_counts_what_the_city_claimed(self) -> None:
        with self.engine.connect() as conn:
            result = balance.statement(conn, "city-a", 2029)
        retired = sum(serial.quantity for _, serial in self.retired_for_city)
        assert result["retired_credits"] == len(self.claimed)
        assert sum(e["tonnes"] for e in result["exclusions"] if e["code"] == "not-claimed") == retired - len(
            self.claimed
        )
        assert result["net"] == 500 - len(self.claimed)

    @invariant()
    def replaying_the_log_gives_the_live_state(self) -> None:
        scratch = create_engine("sqlite://", poolclass=sa.pool.StaticPool)
        try:
            replay.rebuild(self.world.sequencer.store.iter_entries(), scratch, self.world.origin)
            with scratch.connect() as conn:
                assert replay.snapshot(conn) == self.world.state()
        finally:
            scratch.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_random_event_sequences_keep_the_invariants(kind: str) -> None:
    require_database(kind)  # before hypothesis starts: skip, or with CI=true fail, here

    class Machine(RegistryMachine):
        """The machine on this test's database."""

    Machine.kind = kind
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
