"""Builders for test data: keys, signed statements and logs."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from ledger import dsse
from ledger.keys import SignerKey
from ledger.sequencer import Sequencer
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
