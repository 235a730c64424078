"""Statements: the JSON payloads that parties sign and the registry logs.

Every statement is an RFC 8785 canonical JSON object with a ``type`` field, carried in a
DSSE envelope of :data:`PAYLOAD_TYPE`. The event types of the registry domain build on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger import canonical, dsse
from ledger.keys import SignerKey

PAYLOAD_TYPE = "application/vnd.carbon-registry.statement+json"


def sign_statement(statement: dict[str, Any], signers: Sequence[SignerKey]) -> dsse.Envelope:
    """Return a DSSE envelope of ``statement`` (which must carry a string ``type``) signed by ``signers``."""
    if not isinstance(statement.get("type"), str) or not statement["type"]:
        raise ValueError("a statement needs a non-empty string 'type'")
    return dsse.sign(PAYLOAD_TYPE, canonical.encode(statement), signers)
