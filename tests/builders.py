"""Builders for test data: keys, signed statements and logs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from ledger import b64, dsse
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
from registry import commands, queries, replay
from registry.node import Node, initialise_registry
from registry.serials import SerialRange
from registry.service import Registry
from registry.state import Applied
from registry.statements import sign_statement

ORIGIN = "test.example/log"


def log_key(origin: str = ORIGIN) -> SignerKey:
    return SignerKey.parse(_FIXED_LOG_KEYS.setdefault(origin, SignerKey.generate(origin).text()))


_FIXED_LOG_KEYS: dict[str, str] = {}
STATEMENT_SIGNER = SignerKey.generate("test-signer")


def statement(n: int, signer: SignerKey = STATEMENT_SIGNER) -> dsse.Envelope:
    """The n-th sample statement, signed."""
    return sign_statement({"type": "sample", "n": n}, [signer])


def sequencer(engine: Engine, checkpoint: Path | None = None, origin: str = ORIGIN) -> Sequencer:
    return Sequencer(engine, log_key(origin), checkpoint)


# --- the registry domain -------------------------------------------------------------------------

OPERATOR = "operator"
PARTIES: dict[str, str] = {
    "verifier": "verifier",
    "verifier-2": "verifier",
    "supplier": "supplier",
    "supplier-2": "supplier",
    "city-a": "city",
    "city-b": "city",
    "buyer": "buyer",
    "auditor": "auditor",
}
JURISDICTION = {"country": "FI", "subdivision": "FI-19", "municipality": "853"}
BOUNDARY = {"geojson_sha256": "ab" * 32, "description": "city boundary"}
REPORT = "cd" * 32
_PARTY_KEYS: dict[str, SignerKey] = {}


def party_key(name: str) -> SignerKey:
    """A fixed key per party name for the whole test run (keygen is the slow part of setup)."""
    return _PARTY_KEYS.setdefault(name, SignerKey.generate(name))


@dataclass
class World:
    """A registry with an operator, verifiers, suppliers, cities, a buyer and an auditor.

    Projects: ``perm`` (permanent removal, by ``supplier``), ``farm`` (carbon farming,
    temporary, by ``supplier``), ``avoid`` (avoidance, by ``supplier-2``).
    """

    engine: Engine
    sequencer: Sequencer
    registry: Registry
    keys: dict[str, SignerKey] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.sequencer.origin

    def envelope(self, command: commands.Command, *signers: str) -> dsse.Envelope:
        return commands.sign(command, [self.keys[s] for s in signers])

    def submit(self, command: commands.Command, *signers: str) -> Applied:
        return self.registry.submit(self.envelope(command, *signers))

    def issue(
        self,
        quantity: int = 1000,
        *,
        project: str = "perm",
        buffer: int = 0,
        year: int = 2028,
        supplier: str | None = None,
        **options: Any,
    ) -> SerialRange:
        supplier = supplier or {"perm": "supplier", "farm": "supplier", "avoid": "supplier-2"}.get(project, "supplier")
        if project == "farm":
            options.setdefault("expires", f"{year + 8}-12-31")
        command = commands.issue(
            self.origin,
            project=project,
            supplier=supplier,
            verifier="verifier",
            monitoring_period=(f"{year}-01-01", f"{year}-12-31"),
            vintage=year,
            quantity=quantity,
            report_sha256=REPORT,
            buffer=buffer,
            **options,
        )
        index = self.submit(command, supplier, "verifier").index
        with self.engine.connect() as conn:
            return queries.batch_issued_at(conn, index)

    def transfer(self, serial: SerialRange, sender: str, to: str) -> Applied:
        return self.submit(commands.transfer(self.origin, sender, to, str(serial)), sender)

    def retire(self, serial: SerialRange, holder: str, beneficiary: str | None = None, year: int = 2029) -> Applied:
        command = commands.retire(
            self.origin,
            holder,
            str(serial),
            "compensation",
            "FI-19",
            beneficiary_account=beneficiary or holder,
            year=year,
        )
        return self.submit(command, holder)

    def state(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return replay.snapshot(conn)

    def log_size(self) -> int:
        return self.sequencer.store.head()[0]


def world(engine: Engine, origin: str = ORIGIN) -> World:
    """A fresh registry on ``engine`` with the parties of :data:`PARTIES` and three projects."""
    seq = sequencer(engine, origin=origin)
    w = World(engine, seq, Registry(engine, seq), {OPERATOR: party_key(OPERATOR)})
    envelopes = [w.envelope(commands.genesis(origin, OPERATOR, w.keys[OPERATOR], name="Operator"), OPERATOR)]
    for name, role in PARTIES.items():
        w.keys[name] = party_key(name)
        extra: dict[str, Any] = {"jurisdiction": JURISDICTION, "boundary": BOUNDARY} if role == "city" else {}
        command = commands.open_account(
            origin,
            operator=OPERATOR,
            account=name,
            role=role,
            name=name.title(),
            keys=[commands.public_key(w.keys[name])],
            **extra,
        )
        envelopes.append(w.envelope(command, OPERATOR))
    for project, supplier, unit_type in (
        ("perm", "supplier", "permanent-removal"),
        ("farm", "supplier", "carbon-farming-sequestration"),
        ("avoid", "supplier-2", "avoidance"),
    ):
        command = commands.register_project(
            origin,
            project=project,
            supplier=supplier,
            name=f"Project {project}",
            method="biochar" if project == "perm" else "soil-carbon",
            unit_type=unit_type,
            location={"country": "FI", "subdivision": "FI-19"},
            methodology="test methodology",
            scheme="test scheme",
        )
        envelopes.append(w.envelope(command, supplier))
    for outcome in w.registry.submit_many(envelopes):
        assert isinstance(outcome, Applied), outcome
    return w


def populated_node(root: Path, entries: int, *, batch_size: int = 100, database_url: str | None = None) -> Node:
    """A registry data directory whose log holds ``entries`` events (the first opens the operator).

    Events are submitted in batches that end at multiples of ``batch_size``, so checkpoints
    are published at those sizes.
    """
    node, operator = initialise_registry(root, origin="localhost/carbon-registry", database_url=database_url)
    done = 1
    while done < entries:
        count = min(batch_size - done % batch_size, entries - done)
        envelopes = [
            commands.sign(
                commands.open_account(
                    node.origin,
                    operator=OPERATOR,
                    account=f"buyer-{n:05d}",
                    role="buyer",
                    name=f"Buyer {n}",
                    keys=[_fresh_key(n)],
                ),
                [operator],
            )
            for n in range(done, done + count)
        ]
        outcomes = node.registry.submit_many(envelopes)
        assert all(isinstance(o, Applied) for o in outcomes), outcomes
        done += count
    return node


def _fresh_key(n: int) -> str:
    # Distinct public keys without paying for key generation: any 32 bytes name a key here,
    # since these accounts never sign.
    return b64.encode(hashlib.sha256(b"buyer key %d" % n).digest())
