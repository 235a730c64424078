"""Signed net-emissions statements: the bundle verifies offline, and every tampering is named."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import b64
from ledger.checkpoint import open_checkpoint
from ledger.keys import SignerKey
from ledger.note import sign
from ledger.reader import LogReader
from ledger.store import log_checkpoints
from registry import balance, commands
from registry.attestation import consistent_read, sign_statement, verify_statement
from registry.errors import StatementError
from registry.schema import registry_head
from tests.builders import ORIGIN, World, log_key, world
from tests.registry.test_balance import city_forest, inventory
from tests.registry.test_claims import claim, retired_for

Json = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """City-a's 2029 statement: its inventory counts its forest, part of which it sold, and two claims."""

    w: World
    base: int
    inventory: int
    sales: tuple[int, int]
    claims: tuple[int, int]


def scenario(engine: Engine) -> Scenario:
    w = world(engine)
    base = inventory(w, year=1990, base_year=True, emissions=[{"sector": "transport", "scope": 1, "tonnes": 1_000_000}])
    city_forest(w)
    forest = w.issue(10_000, project="forest", expires="2036-12-31", supplier="city-a", year=2029)
    line = {"method": "afforestation-reforestation", "durability": "temporary", "tonnes": 10_000, "project": "forest"}
    counted = inventory(w, removals=[line])
    sold = forest.sub(forest.first, forest.first + 3_999)
    sale = w.submit(commands.sell(w.origin, "city-a", "buyer", str(sold), price=("40000", "EUR")), "city-a").index
    again = sold.sub(sold.first, sold.first + 999)  # the same units sold on: they left the city once
    resale = w.submit(commands.sell(w.origin, "buyer", "supplier", str(again), price=("1", "EUR")), "buyer").index
    perm = w.issue(60_000, year=2029)
    farm = w.issue(29_000, project="farm", year=2029)
    c1 = claim(w, "city-a", retired_for(w, perm, "city-a"), perm)
    c2 = claim(w, "city-a", retired_for(w, farm, "city-a"), farm)
    return Scenario(w, base, counted, (sale, resale), (c1, c2))


def statement(w: World) -> Json:
    with consistent_read(w.engine) as conn:
        return balance.statement(conn, "city-a", 2029)


def signed(w: World, doctored: Json | None = None) -> Json:
    """The bundle of city-a's 2029 statement (or of ``doctored``), signed by the log."""
    return sign_statement(
        doctored or statement(w),
        log_key=log_key(),
        published=w.sequencer.published,
        reader=LogReader(w.sequencer.store),
    )


def refused(bundle: Json) -> StatementError:
    with pytest.raises(StatementError) as error:
        verify_statement(bundle, log_key().verifier)
    return error.value


def entry_of(bundle: Json, index: int) -> Json:
    (found,) = [e for e in bundle["entries"] if e["index"] == index]
    return found  # type: ignore[no-any-return]


# --- a bundle that verifies ----------------------------------------------------------------------


def test_a_signed_statement_verifies_offline_and_its_figures_are_recomputed(engine: Engine) -> None:
    s = scenario(engine)
    bundle = json.loads(json.dumps(signed(s.w)))  # as it travels
    verified = verify_statement(bundle, log_key().verifier)
    size = s.w.log_size()
    assert (verified.city, verified.year, verified.size) == ("city-a", 2029, size)
    result = verified.statement
    assert {k: result[k] for k in ("gross_emissions", "sold_credits", "in_boundary_removals", "retired_credits")} == {
        "gross_emissions": 129_000,
        "sold_credits": 4_000,
        "in_boundary_removals": 10_000,
        "retired_credits": 89_000,
    }
    assert (result["positive"], result["negative"], result["net"]) == (133_000, 99_000, 34_000)
    assert [e["index"] for e in bundle["entries"]] == result["evidence"]
    assert {s.base, s.inventory, *s.sales, *s.claims} <= set(result["evidence"])
    assert bundle["checkpoint"] == s.w.sequencer.published.encode()
    digest = b64.encode(
        hashlib.sha256(json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).digest()
    )
    assert bundle["note"].split("\n")[:7] == [
        "carbon-registry/net-emissions-statement/v1",
        ORIGIN,
        "city-a",
        "2029",
        f"size {size}",
        b64.encode(s.w.sequencer.published.root),
        f"sha256 {digest}",
    ]
    assert verified.steps[-1] == "figures: positive 133000 t, negative 99000 t, net 34000 t"
    assert len(verified.steps) == 6


def test_a_statement_of_an_earlier_size_is_anchored_in_a_checkpoint_of_that_size(engine: Engine) -> None:
    s = scenario(engine)
    earlier = statement(s.w)
    size = earlier["log_size"]
    recorded = s.w.sequencer.store.checkpoint_at(size)
    retired_for(s.w, s.w.issue(10), "city-b")  # the log moves on
    assert s.w.sequencer.published.size == size + 2
    bundle = signed(s.w, earlier)
    assert bundle["checkpoint"] == recorded
    assert verify_statement(bundle, log_key().verifier).size == size

    # A size the log never recorded (another writer's batch was published with it) is signed now.
    with s.w.engine.begin() as conn:
        conn.execute(sa.delete(log_checkpoints).where(log_checkpoints.c.size == size))
    fresh = signed(s.w, earlier)
    assert open_checkpoint(fresh["checkpoint"], log_key().verifier).size == size
    assert verify_statement(fresh, log_key().verifier).statement == earlier


def test_a_statement_beyond_the_published_checkpoint_is_not_signed(engine: Engine) -> None:
    s = scenario(engine)
    older = open_checkpoint(s.w.sequencer.store.checkpoint_at(s.claims[0]) or "", log_key().verifier)
    with pytest.raises(StatementError, match=f"reflects {s.w.log_size()} log entries but the latest published"):
        sign_statement(statement(s.w), log_key=log_key(), published=older, reader=LogReader(s.w.sequencer.store))


def test_the_statement_is_read_from_one_snapshot(engine: Engine) -> None:
    w = world(engine)
    applied = sa.select(registry_head.c.applied)
    with consistent_read(engine) as conn:
        before = conn.execute(applied).scalar_one()
        w.issue(10)  # a batch commits between two reads of one statement
        assert conn.execute(applied).scalar_one() == before
    assert w.log_size() == before + 1


# --- tampering -----------------------------------------------------------------------------------


def test_an_entry_altered_by_one_character_fails_its_inclusion_proof(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    entry = entry_of(bundle, s.inventory)
    data = b64.decode(entry["entry"])
    altered = data.replace(b'"logged_at":"20', b'"logged_at":"21', 1)
    assert len(altered) == len(data) and altered != data
    entry["entry"] = b64.encode(altered)
    error = refused(bundle)
    assert str(error) == (
        f"entries: entry {s.inventory}: inclusion proof does not verify: "
        "inclusion proof does not lead to the expected root"
    )
    assert (error.step, error.index) == ("entries", s.inventory)


def test_a_missing_evidence_entry_is_named(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    bundle["entries"] = [e for e in bundle["entries"] if e["index"] != s.claims[1]]
    error = refused(bundle)
    assert str(error) == f"entries: entry {s.claims[1]}, which the statement cites, is missing"
    assert error.index == s.claims[1]


def test_a_changed_proof_hash_is_named(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    entry = entry_of(bundle, s.sales[0])
    entry["proof"][0] = b64.encode(hashlib.sha256(b"not a node").digest())
    assert str(refused(bundle)) == (
        f"entries: entry {s.sales[0]}: inclusion proof does not verify: "
        "inclusion proof does not lead to the expected root"
    )


def test_a_changed_figure_no_longer_matches_the_signed_digest(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    bundle["statement"]["net"] = 0
    assert str(refused(bundle)) == "note: its sha256 does not match the statement: the statement was altered"


def test_a_note_re_signed_by_another_key_is_refused(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    doctored = copy.deepcopy(bundle["statement"])
    doctored["net"] = 0
    forger = SignerKey.generate(ORIGIN)  # the log's name, not its key
    text = bundle["note"].split("\n\n")[0] + "\n"
    lines = text.split("\n")
    lines[6] = "sha256 " + b64.encode(
        hashlib.sha256(
            json.dumps(doctored, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).digest()
    )
    bundle["statement"], bundle["note"] = doctored, sign("\n".join(lines), [forger]).encode()
    assert str(refused(bundle)) == "note: not signed by the log key: note is not signed by any trusted key"


def test_the_wrong_log_key_refuses_the_checkpoint(engine: Engine) -> None:
    s = scenario(engine)
    with pytest.raises(StatementError) as error:
        verify_statement(signed(s.w), SignerKey.generate("other.example/log").verifier)
    assert str(error.value) == "checkpoint: checkpoint signature: note is not signed by any trusted key"


def test_a_note_for_another_city_or_size_is_refused(engine: Engine) -> None:
    s = scenario(engine)
    bundle = signed(s.w)
    lines = bundle["note"].split("\n\n")[0].split("\n")
    lines[4] = "size 3"
    bundle["note"] = sign("\n".join(lines) + "\n", [log_key()]).encode()
    assert str(refused(bundle)) == f"note: its size ('size 3') is not the checkpoint's ('size {s.w.log_size()}')"


# --- a registry that signs wrong figures ---------------------------------------------------------


def _gross(result: Json) -> str:
    result["gross_emissions"] += 1
    return "figures: gross_emissions: the statement says 129001, the entries give 129000"


def _sold(result: Json) -> str:
    result["terms"]["sold_credits"]["projects"][0]["tonnes"] = 5_000  # the resale counted again
    return "figures: sold credits of 'forest': the statement says 5000, the entries give 4000"


def _claim_dropped(result: Json) -> str:
    result["terms"]["retired_credits"]["projects"][0]["claims"] = []
    return "figures: retired credits of 'farm': the statement says 29000, the entries give 0"


def _net(result: Json) -> str:
    result["net"] = 0
    return "figures: net: the statement says 0, the entries give 34000"


def _removals_by_method(result: Json) -> str:
    result["terms"]["in_boundary_removals"]["by_method"] = {"biochar": 10_000}
    return (
        "figures: terms.in_boundary_removals.by_method: the statement says {'biochar': 10000}, "
        "the entries give {'afforestation-reforestation': 10000}"
    )


@pytest.mark.parametrize("doctor", [_gross, _sold, _claim_dropped, _net, _removals_by_method])
def test_figures_the_entries_do_not_give_are_refused_even_when_the_log_signed_them(engine: Engine, doctor: Any) -> None:
    s = scenario(engine)
    result = statement(s.w)
    message = doctor(result)
    assert str(refused(signed(s.w, result))) == message


def test_an_entry_that_is_not_the_city_inventory_is_refused(engine: Engine) -> None:
    s = scenario(engine)
    result = statement(s.w)
    result["terms"]["gross_emissions"]["evidence"] = [s.base]  # the 1990 inventory, for 2029
    assert str(refused(signed(s.w, result))) == (
        f"figures: entry {s.base} is the inventory of 'city-a' for 1990, not of 'city-a' for 2029"
    )
    result = statement(s.w)
    result["terms"]["gross_emissions"]["evidence"] = [s.claims[0]]
    result["evidence"] = sorted(result["evidence"])
    assert str(refused(signed(s.w, result))) == f"figures: entry {s.claims[0]} is a claim event, not an inventory"
