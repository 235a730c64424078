"""Who may sign what: signatures judged by the key state at the event's log index.

A signature counts if its key is bound to an account and not revoked when the event is
sequenced (DESIGN.md §4). Checking happens in two steps so that the expensive part runs
outside the writer's lock:

1. :func:`verify_signatures` — Ed25519 over the DSSE PAE, against the public keys the
   committed state knows (any thread, no lock);
2. :func:`authorise` — under the lock, each signing key is looked up again (in the
   working state, which sees key events earlier in the same batch): it must still be
   bound and unrevoked, its public key must be the one verified (else it is verified now),
   and the accounts that signed must be exactly those the event names.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.dsse import Envelope, pae
from ledger.keys import VerifierKey
from registry.errors import UnauthorisedError
from registry.schema import account_keys
from registry.vocabulary import Role
from registry.working import WorkingState

KeyLookup = Callable[[Collection[str]], Mapping[str, bytes]]


def verify_signatures(envelope: Envelope, lookup: KeyLookup) -> dict[str, bytes]:
    """Verify the signatures whose keys ``lookup`` knows; return keyid → public key of those that verified.

    Raises :class:`UnauthorisedError` if a known key's signature does not verify. Signatures
    by keys not (yet) known are left for :func:`authorise`.
    """
    known = lookup(envelope.keyids)
    message = pae(envelope.payload_type, envelope.payload)
    verified: dict[str, bytes] = {}
    for signature in envelope.signatures:
        public_key = known.get(signature.keyid)
        if public_key is None:
            continue
        if not VerifierKey("key", public_key).verify(signature.sig, message):
            raise UnauthorisedError(f"signature by key {signature.keyid} does not verify")
        verified[signature.keyid] = public_key
    return verified


def bound_keys(conn: Connection) -> KeyLookup:
    """A :data:`KeyLookup` over the keys bound in ``conn``'s view of the state."""

    def lookup(keyids: Collection[str]) -> Mapping[str, bytes]:
        rows = conn.execute(
            sa.select(account_keys.c.keyid, account_keys.c.public_key).where(account_keys.c.keyid.in_(keyids))
        )
        return {row.keyid: bytes(row.public_key) for row in rows}

    return lookup


def authorise(
    state: WorkingState,
    envelope: Envelope,
    required: tuple[str, ...],
    verified: Mapping[str, bytes],
    *,
    operator: bool = False,
) -> None:
    """Check that exactly the ``required`` accounts signed ``envelope`` with live keys.

    ``verified`` holds the keys already checked by :func:`verify_signatures`. With
    ``operator``, the signing account must also have the operator role. Raises
    :class:`UnauthorisedError` naming the key or account at fault.
    """
    if not envelope.signatures:
        raise UnauthorisedError("the event carries no signature")
    rows = state.keys(envelope.keyids)
    signed: set[str] = set()
    for signature in envelope.signatures:
        row = rows.get(signature.keyid)
        if row is None:
            raise UnauthorisedError(f"signature by key {signature.keyid}, which is bound to no account")
        if row.revoked_at is not None:
            raise UnauthorisedError(
                f"signature by key {signature.keyid} of account {row.account!r}, revoked at log index {row.revoked_at}"
            )
        public_key = row.public_key
        if verified.get(signature.keyid) != public_key and not VerifierKey("key", public_key).verify(
            signature.sig, pae(envelope.payload_type, envelope.payload)
        ):
            raise UnauthorisedError(f"signature by key {signature.keyid} does not verify")
        signed.add(row.account)
    _check_accounts(signed, required)
    if operator:
        role = state.account(required[0], "operator").role
        if role != Role.OPERATOR:
            raise UnauthorisedError(f"operator: account {required[0]!r} is not an operator")


def authorise_genesis(envelope: Envelope, keys: Collection[bytes]) -> None:
    """Check the first event of a log: the operator's own account, signed by a key it binds."""
    if not envelope.signatures:
        raise UnauthorisedError("the first event carries no signature")
    by_id = {VerifierKey("key", k).dsse_key_id: k for k in keys}
    message = pae(envelope.payload_type, envelope.payload)
    for signature in envelope.signatures:
        public_key = by_id.get(signature.keyid)
        if public_key is None:
            raise UnauthorisedError(f"the first event must be signed only by keys it binds; {signature.keyid} is not")
        if not VerifierKey("key", public_key).verify(signature.sig, message):
            raise UnauthorisedError(f"signature by key {signature.keyid} does not verify")


def _check_accounts(signed: set[str], required: tuple[str, ...]) -> None:
    missing = [a for a in required if a not in signed]
    if missing:
        raise UnauthorisedError(f"the event needs a signature of account {missing[0]!r}, and has none")
    extra = sorted(signed - set(required))
    if extra:
        raise UnauthorisedError(f"signature by account {extra[0]!r}, which this event does not name as a signer")
