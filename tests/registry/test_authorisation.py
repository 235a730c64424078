"""The authorisation matrix: who may sign which event, and what a refused signature leaves behind.

Every event type is built in a valid form by a :class:`Scenario` (with whatever state it
needs: units held by ``city-a`` for a transfer, say), then signed in one way that must not
give it authority: another account's key, a revoked or rotated-out key, a key bound to no
account, a missing co-signature, an extra signer the event does not name, a non-operator
acting as operator, or an envelope meant for another registry. Each such envelope is refused
with the expected error and changes neither the state tables nor the log. Positive controls
(the same event correctly signed, and signed with a key rotated in) show that the refusals
are caused by the signatures and not by the event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger import canonical
from ledger.database import create_engine
from ledger.dsse import Envelope, Signature, pae
from ledger.entry import LogEntry
from ledger.keys import SignerKey
from registry import commands, replay
from registry.commands import Command
from registry.errors import NotHolderError, RegistryError, RuleError, UnauthorisedError, WrongRegistryError
from registry.serials import SerialRange
from registry.service import Registry
from registry.state import Applied
from registry.statements import PAYLOAD_TYPE
from tests.builders import OPERATOR, REPORT, World, sequencer, world

OTHER_ORIGIN = "other.example/log"
Snapshot = tuple[dict[str, list[tuple[Any, ...]]], int]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def w(engine: Engine) -> Iterator[World]:
    """A fresh registry with the parties and projects of :func:`tests.builders.world`."""
    built = world(engine)
    yield built
    built.registry.close()


@pytest.fixture
def other_engine(database_url: tuple[str, str | None], tmp_path: Path) -> Iterator[Engine]:
    """A second empty database of the same kind as ``engine`` (for a second registry)."""
    url, schema = database_url
    if schema is None:
        eng = create_engine(f"sqlite:///{tmp_path / 'other-registry.db'}")
        yield eng
        eng.dispose()
        return
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other_schema}"'))
    eng = create_engine(url, schema=other_schema)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{other_schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def other(other_engine: Engine) -> Iterator[World]:
    """Another registry, same parties and keys, under the origin :data:`OTHER_ORIGIN`."""
    built = world(other_engine, origin=OTHER_ORIGIN)
    yield built
    built.registry.close()


# --- helpers ---------------------------------------------------------------------------------


def snapshot(w: World) -> Snapshot:
    return w.state(), w.log_size()


def keyid(key: SignerKey) -> str:
    return key.verifier.dsse_key_id


def fresh_key(name: str = "unbound") -> SignerKey:
    """A key bound to no account."""
    return SignerKey.generate(name)


def revoke(w: World, account: str) -> SignerKey:
    """Revoke ``account``'s key by a key-revocation event; return the revoked key (still in ``w.keys``)."""
    key = w.keys[account]
    w.submit(commands.revoke_key(w.origin, OPERATOR, account, keyid(key), "key compromised"), OPERATOR)
    return key


def rotate(w: World, account: str) -> SignerKey:
    """Rotate ``account``'s key by a key-rotation event; ``w.keys`` then holds the new key. Return the old one."""
    old, new = w.keys[account], SignerKey.generate(f"{account}-rotated")
    w.submit(commands.rotate_key(w.origin, OPERATOR, account, keyid(old), commands.public_key(new)), OPERATOR)
    w.keys[account] = new
    return old


def sign(command: Command, keys: list[SignerKey]) -> Envelope:
    return commands.sign(command, keys)


# --- scenarios: one valid event of each type -------------------------------------------------


def held_by_city_a(w: World) -> SerialRange:
    """100 units issued to ``supplier`` and transferred to ``city-a``."""
    serial = w.issue(100)
    w.transfer(serial, "supplier", "city-a")
    return serial


def build_account(w: World) -> Command:
    return commands.open_account(
        w.origin,
        operator=OPERATOR,
        account="newcomer",
        role="buyer",
        name="Newcomer",
        keys=[commands.public_key(fresh_key("newcomer"))],
    )


def build_key_binding(w: World) -> Command:
    return commands.bind_key(w.origin, OPERATOR, "buyer", commands.public_key(fresh_key("buyer-second")))


def build_key_rotation(w: World) -> Command:
    return commands.rotate_key(
        w.origin, OPERATOR, "buyer", keyid(w.keys["buyer"]), commands.public_key(fresh_key("buyer-next"))
    )


def build_key_revocation(w: World) -> Command:
    return commands.revoke_key(w.origin, OPERATOR, "buyer", keyid(w.keys["buyer"]), "lost laptop")


def build_project(w: World) -> Command:
    return commands.register_project(
        w.origin,
        project="new-project",
        supplier="supplier",
        name="New project",
        method="biochar",
        unit_type="permanent-removal",
        location={"country": "FI", "subdivision": "FI-19"},
        methodology="test methodology",
        scheme="test scheme",
    )


def build_issuance(w: World) -> Command:
    return commands.issue(
        w.origin,
        project="perm",
        supplier="supplier",
        verifier="verifier",
        monitoring_period=("2028-01-01", "2028-12-31"),
        vintage=2028,
        quantity=500,
        buffer=50,
        report_sha256=REPORT,
    )


def build_transfer(w: World) -> Command:
    serial = held_by_city_a(w)
    return commands.transfer(w.origin, "city-a", "buyer", str(serial.sub(serial.first, serial.first + 9)))


def build_sale(w: World) -> Command:
    serial = held_by_city_a(w)
    return commands.sell(w.origin, "city-a", "buyer", str(serial), price=("1250.00", "EUR"))


def build_retirement(w: World) -> Command:
    serial = held_by_city_a(w)
    return commands.retire(
        w.origin, "city-a", str(serial), "compensation", "FI-19", beneficiary_account="city-a", year=2029
    )


def build_cancellation(w: World) -> Command:
    serial = w.issue(100)
    return commands.cancel(w.origin, OPERATOR, "invalidation", "issued in error", serial=str(serial))


@dataclass(frozen=True)
class Scenario:
    """A valid event of one type, the accounts that must sign it, and an impostor for each."""

    type: str
    build: Callable[[World], Command]
    signers: tuple[str, ...]
    impostors: dict[str, str] = field(default_factory=dict)
    """For each signer, another account of the kind that might try to sign in its place."""
    holder_field: str | None = None
    """For events that move units: the field naming the account whose units they are."""

    @property
    def operator_event(self) -> bool:
        return self.signers == (OPERATOR,)

    def __str__(self) -> str:
        return self.type


SCENARIOS = (
    Scenario("account", build_account, (OPERATOR,), {OPERATOR: "supplier"}),
    Scenario("key-binding", build_key_binding, (OPERATOR,), {OPERATOR: "supplier"}),
    Scenario("key-rotation", build_key_rotation, (OPERATOR,), {OPERATOR: "supplier"}),
    Scenario("key-revocation", build_key_revocation, (OPERATOR,), {OPERATOR: "supplier"}),
    Scenario("project", build_project, ("supplier",), {"supplier": "supplier-2"}),
    Scenario(
        "issuance", build_issuance, ("supplier", "verifier"), {"supplier": "supplier-2", "verifier": "verifier-2"}
    ),
    Scenario("transfer", build_transfer, ("city-a",), {"city-a": "city-b"}, holder_field="from"),
    Scenario("sale", build_sale, ("city-a",), {"city-a": "city-b"}, holder_field="from"),
    Scenario("retirement", build_retirement, ("city-a",), {"city-a": "city-b"}, holder_field="holder"),
    Scenario("cancellation", build_cancellation, (OPERATOR,), {OPERATOR: "supplier"}),
)


# --- the ways of signing that must not work --------------------------------------------------

Make = Callable[[World, Scenario, str, Command], Envelope]


@dataclass(frozen=True)
class Case:
    """One way of signing a scenario's event; ``make`` may first change the registry's state."""

    name: str
    make: Make
    expected: type[RegistryError]
    match: str
    """What the error message must say (so that the refusal has the reason the case is about)."""
    applies: Callable[[Scenario], bool] = lambda _s: True
    per_signer: bool = False
    """Whether the case is run once for each account the event needs (the ``target``)."""

    def __str__(self) -> str:
        return self.name


def correct_keys(w: World, scenario: Scenario) -> list[SignerKey]:
    return [w.keys[s] for s in scenario.signers]


def replacing(w: World, scenario: Scenario, target: str, key: SignerKey) -> list[SignerKey]:
    """The correct keys, with ``target``'s replaced by ``key``."""
    return [key if s == target else w.keys[s] for s in scenario.signers]


def other_accounts_key(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # e.g. city-b signs a transfer from city-a; supplier signs an event naming the operator.
    return sign(command, replacing(w, s, target, w.keys[s.impostors[target]]))


def forged_keyid(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # The signature names the right account's key id, but another account's key made it.
    envelope = sign(command, correct_keys(w, s))
    message = pae(envelope.payload_type, envelope.payload)
    forger = w.keys[s.impostors[target]]
    signatures = tuple(
        Signature(sig.keyid, forger.sign(message)) if sig.keyid == keyid(w.keys[target]) else sig
        for sig in envelope.signatures
    )
    return Envelope(envelope.payload_type, envelope.payload, signatures)


def revoked_key(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    revoke(w, target)
    return sign(command, correct_keys(w, s))


def rotated_out_key(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    old = rotate(w, target)
    return sign(command, replacing(w, s, target, old))


def unbound_key(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command, replacing(w, s, target, fresh_key()))


def unbound_extra_key(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command, [*correct_keys(w, s), fresh_key()])


def extra_auditor(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command, [*correct_keys(w, s), w.keys["auditor"]])


def extra_operator(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # The operator is not a superuser: its signature on a holder's event is one the event does not name.
    return sign(command, [*correct_keys(w, s), w.keys[OPERATOR]])


def extra_impostor(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command, [*correct_keys(w, s), w.keys[s.impostors[target]]])


def missing_cosigner(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # e.g. an issuance signed by the supplier only (target verifier), or by the verifier only.
    return sign(command, [w.keys[a] for a in s.signers if a != target])


def unsigned(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return Envelope(PAYLOAD_TYPE, canonical.encode(command), ())


def non_operator_as_operator(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # The supplier names itself as the operator and signs: it is not an operator.
    return sign(command | {"operator": "supplier"}, [w.keys["supplier"]])


def operator_names_another(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # The operator signs, but the event names the supplier as its operator.
    return sign(command | {"operator": "supplier"}, [w.keys[OPERATOR]])


def verifier_is_auditor(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command | {"verifier": "auditor"}, [w.keys["supplier"], w.keys["auditor"]])


def verifier_is_operator(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command | {"verifier": OPERATOR}, [w.keys["supplier"], w.keys[OPERATOR]])


def supplier_verifies_itself(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    return sign(command | {"verifier": "supplier"}, [w.keys["supplier"]])


def issuance_by_other_supplier(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # supplier-2 names itself, and signs, an issuance for the supplier's project.
    return sign(command | {"supplier": "supplier-2"}, [w.keys["supplier-2"], w.keys["verifier"]])


def units_of_another_holder(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # city-b names itself as the holder of city-a's units, and signs.
    assert s.holder_field is not None
    impostor = s.impostors[target]
    changed = command | {s.holder_field: impostor}
    if s.type == "retirement":
        changed["beneficiary"] = {"account": impostor}
    return sign(changed, [w.keys[impostor]])


def for_other_registry(w: World, s: Scenario, target: str, command: Command) -> Envelope:
    # Correctly signed, but for another registry's log (a replay of its envelope, say).
    return sign(command | {"registry": OTHER_ORIGIN}, correct_keys(w, s))


def _operator_event(s: Scenario) -> bool:
    return s.operator_event


def _holder_event(s: Scenario) -> bool:
    return not s.operator_event


def _cosigned(s: Scenario) -> bool:
    return len(s.signers) > 1


def _issuance(s: Scenario) -> bool:
    return s.type == "issuance"


def _moves_units(s: Scenario) -> bool:
    return s.holder_field is not None


REFUSALS = (
    Case("other-accounts-key", other_accounts_key, UnauthorisedError, "needs a signature of account", per_signer=True),
    Case("forged-keyid", forged_keyid, UnauthorisedError, "does not verify", per_signer=True),
    Case("revoked-key", revoked_key, UnauthorisedError, "revoked at log index", per_signer=True),
    Case("rotated-out-key", rotated_out_key, UnauthorisedError, "revoked at log index", per_signer=True),
    Case("unbound-key", unbound_key, UnauthorisedError, "bound to no account", per_signer=True),
    Case("unbound-extra-key", unbound_extra_key, UnauthorisedError, "bound to no account"),
    Case("extra-auditor", extra_auditor, UnauthorisedError, "'auditor', which this event does not name"),
    Case("extra-operator", extra_operator, UnauthorisedError, "does not name as a signer", applies=_holder_event),
    Case("extra-impostor", extra_impostor, UnauthorisedError, "does not name as a signer", per_signer=True),
    Case(
        "missing-cosigner",
        missing_cosigner,
        UnauthorisedError,
        "needs a signature of account",
        applies=_cosigned,
        per_signer=True,
    ),
    Case("unsigned", unsigned, UnauthorisedError, "carries no signature"),
    Case(
        "non-operator-as-operator",
        non_operator_as_operator,
        UnauthorisedError,
        "'supplier' is not an operator",
        applies=_operator_event,
    ),
    Case(
        "operator-names-another",
        operator_names_another,
        UnauthorisedError,
        "needs a signature of account 'supplier'",
        applies=_operator_event,
    ),
    Case("verifier-is-auditor", verifier_is_auditor, RuleError, "not an accredited verifier", applies=_issuance),
    Case("verifier-is-operator", verifier_is_operator, RuleError, "not an accredited verifier", applies=_issuance),
    Case(
        "supplier-verifies-itself", supplier_verifies_itself, RuleError, "not an accredited verifier", applies=_issuance
    ),
    Case("issuance-by-other-supplier", issuance_by_other_supplier, RuleError, "belongs to", applies=_issuance),
    Case("units-of-another-holder", units_of_another_holder, NotHolderError, "not held by", applies=_moves_units),
    Case("for-other-registry", for_other_registry, WrongRegistryError, "the event is for 'other.example/log'"),
)


def _matrix() -> list[Any]:
    params = []
    for scenario in SCENARIOS:
        for case in REFUSALS:
            if not case.applies(scenario):
                continue
            for target in scenario.signers if case.per_signer else scenario.signers[:1]:
                suffix = f"-by-{target}" if case.per_signer and len(scenario.signers) > 1 else ""
                params.append(pytest.param(scenario, case, target, id=f"{scenario.type}-{case.name}{suffix}"))
    return params


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "case", "target"), _matrix())
def test_refused_and_changes_nothing(w: World, scenario: Scenario, case: Case, target: str) -> None:
    command = scenario.build(w)
    envelope = case.make(w, scenario, target, command)
    before = snapshot(w)
    with pytest.raises(case.expected, match=case.match) as refused:
        w.registry.submit(envelope)
    assert snapshot(w) == before, f"{refused.value!r} changed the state or the log"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_correctly_signed_is_accepted(w: World, scenario: Scenario) -> None:
    command = scenario.build(w)
    before = snapshot(w)
    applied = w.submit(command, *scenario.signers)
    assert applied == Applied(before[1], command["id"], scenario.type)
    assert w.log_size() == before[1] + 1
    assert w.state() != before[0]


@pytest.mark.parametrize(
    ("scenario", "target"),
    [pytest.param(s, t, id=f"{s.type}-by-{t}" if len(s.signers) > 1 else s.type) for s in SCENARIOS for t in s.signers],
)
def test_key_rotated_in_is_accepted(w: World, scenario: Scenario, target: str) -> None:
    command = scenario.build(w)
    old = rotate(w, target)
    assert w.keys[target] != old
    before = snapshot(w)
    applied = w.submit(command, *scenario.signers)  # target signs with its new key
    assert applied.index == before[1]
    assert w.log_size() == before[1] + 1


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_envelope_accepted_by_another_registry_is_refused(w: World, other: World, scenario: Scenario) -> None:
    envelope = other.envelope(scenario.build(other), *scenario.signers)
    assert other.registry.submit(envelope).index == other.log_size() - 1  # accepted there
    before = snapshot(w)
    with pytest.raises(WrongRegistryError) as refused:
        w.registry.submit(envelope)
    assert (refused.value.named, refused.value.origin) == (OTHER_ORIGIN, w.origin)
    assert snapshot(w) == before


def test_every_entry_of_another_registrys_log_is_refused(w: World, other: World) -> None:
    # The same parties hold the same keys in both registries: only the origin tells them apart.
    serial = held_by_city_a(other)
    other.retire(serial.sub(serial.first, serial.first + 9), "city-a")
    before = snapshot(w)
    for index, data in other.sequencer.store.iter_entries():
        with pytest.raises(WrongRegistryError):
            w.registry.submit(LogEntry.decode(data).envelope)
        assert snapshot(w) == before, f"entry {index} of the other log changed this registry"


def test_revoked_key_is_refused_after_revocation_only(w: World) -> None:
    # A signature by a key is judged at the event's index: accepted before its revocation, refused after.
    serial = held_by_city_a(w)
    w.transfer(serial.sub(serial.first, serial.first), "city-a", "buyer")
    revoke(w, "city-a")
    before = snapshot(w)
    with pytest.raises(UnauthorisedError, match="revoked"):
        w.transfer(serial.sub(serial.first + 1, serial.first + 1), "city-a", "buyer")
    assert snapshot(w) == before


# --- the genesis event: the operator's own account, signed by a key it binds -----------------


@pytest.fixture
def empty(engine: Engine) -> Iterator[Registry]:
    """A registry whose log is empty."""
    registry = Registry(engine, sequencer(engine))
    yield registry
    registry.close()


def genesis(origin: str, key: SignerKey, *, role: str = "operator", account: str = OPERATOR) -> Command:
    return commands.open_account(
        origin, operator=OPERATOR, account=account, role=role, name="Operator", keys=[commands.public_key(key)]
    )


def empty_snapshot(registry: Registry) -> Snapshot:
    with registry.engine.connect() as conn:
        return replay.snapshot(conn), registry.sequencer.store.head()[0]


def _genesis_envelopes() -> list[Any]:
    bound, stranger = SignerKey.generate("genesis"), SignerKey.generate("stranger")

    def by(*keys: SignerKey, **changes: str) -> Callable[[str], Envelope]:
        return lambda origin: sign(genesis(origin, bound, **changes), list(keys))

    def no_signature(origin: str) -> Envelope:
        return Envelope(PAYLOAD_TYPE, canonical.encode(genesis(origin, bound)), ())

    return [
        pytest.param(by(stranger), UnauthorisedError, id="signed-by-a-key-it-does-not-bind"),
        pytest.param(by(bound, stranger), UnauthorisedError, id="extra-unbound-signer"),
        pytest.param(no_signature, UnauthorisedError, id="unsigned"),
        pytest.param(by(bound, role="supplier", account="supplier"), UnauthorisedError, id="not-an-operator-account"),
        pytest.param(by(bound, account="someone-else"), UnauthorisedError, id="account-is-not-the-operator"),
        pytest.param(
            lambda _origin: sign(genesis(OTHER_ORIGIN, bound), [bound]), WrongRegistryError, id="for-other-registry"
        ),
    ]


@pytest.mark.parametrize(("make", "expected"), _genesis_envelopes())
def test_genesis_refused(empty: Registry, make: Callable[[str], Envelope], expected: type[RegistryError]) -> None:
    before = empty_snapshot(empty)
    with pytest.raises(expected):
        empty.submit(make(empty.origin))
    assert empty_snapshot(empty) == before
    # The log is still empty: a correct genesis is accepted as entry 0.
    key = SignerKey.generate("operator")
    assert empty.submit(sign(genesis(empty.origin, key), [key])).index == 0
