"""Accounts and their keys: opening, binding, rotating and revoking (operator events)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.keys import dsse_key_id
from registry.errors import AlreadyExistsError, RuleError, UnknownError
from registry.events import AccountOpened, KeyBound, KeyRevoked, KeyRotated
from registry.position import Position
from registry.schema import account_keys, accounts
from registry.working import WorkingState


def open_account(state: WorkingState, event: AccountOpened, at: Position) -> None:
    """Open ``event.account`` with its role and first keys."""
    conn = state.conn
    existing = conn.execute(sa.select(accounts.c.opened_at).where(accounts.c.id == event.account)).scalar()
    if existing is not None:
        raise AlreadyExistsError("account", "account", event.account, existing)
    for i, key in enumerate(event.keys):
        _check_key_unused(conn, key, f"keys[{i}]")
    jurisdiction = event.jurisdiction
    boundary = event.boundary
    conn.execute(
        accounts.insert().values(
            id=event.account,
            role=event.role.value,
            name=event.name,
            country=jurisdiction.country if jurisdiction else None,
            subdivision=jurisdiction.subdivision if jurisdiction else None,
            municipality=jurisdiction.municipality if jurisdiction else None,
            boundary_sha256=boundary.geojson_sha256 if boundary else None,
            boundary_description=boundary.description if boundary else None,
            opened_at=at.index,
        )
    )
    conn.execute(
        account_keys.insert(),
        [
            {"keyid": dsse_key_id(k), "account": event.account, "public_key": k, "bound_at": at.index}
            for k in event.keys
        ],
    )


def bind_key(state: WorkingState, event: KeyBound, at: Position) -> None:
    """Bind another key to an account."""
    conn = state.conn
    state.account(event.account, "account")
    _check_key_unused(conn, event.key, "key")
    _insert_key(conn, event.account, event.key, at)


def rotate_key(state: WorkingState, event: KeyRotated, at: Position) -> None:
    """Bind ``event.key`` and revoke ``event.revoke`` in one step."""
    conn = state.conn
    state.account(event.account, "account")
    _check_live_key(conn, event.account, event.revoke)
    _check_key_unused(conn, event.key, "key")
    _revoke(state, event.revoke, at)
    _insert_key(conn, event.account, event.key, at)


def revoke_key(state: WorkingState, event: KeyRevoked, at: Position) -> None:
    """Revoke a key: signatures by it are refused from this log index on."""
    conn = state.conn
    state.account(event.account, "account")
    _check_live_key(conn, event.account, event.revoke)
    _revoke(state, event.revoke, at)


def _check_key_unused(conn: Connection, key: bytes, field: str) -> None:
    # A key belongs to one account, ever: a signature then names its account unambiguously.
    keyid = dsse_key_id(key)
    bound_at = conn.execute(sa.select(account_keys.c.bound_at).where(account_keys.c.keyid == keyid)).scalar()
    if bound_at is not None:
        raise AlreadyExistsError(field, "key", keyid, bound_at)


def _check_live_key(conn: Connection, account: str, keyid: str) -> None:
    row = conn.execute(
        sa.select(account_keys.c.account, account_keys.c.revoked_at).where(account_keys.c.keyid == keyid)
    ).one_or_none()
    if row is None or row.account != account:
        raise UnknownError("revoke", f"key of account {account!r}", keyid)
    if row.revoked_at is not None:
        raise RuleError("revoke", f"key {keyid} was already revoked at log index {row.revoked_at}")


def _insert_key(conn: Connection, account: str, key: bytes, at: Position) -> None:
    conn.execute(
        account_keys.insert().values(keyid=dsse_key_id(key), account=account, public_key=key, bound_at=at.index)
    )


def _revoke(state: WorkingState, keyid: str, at: Position) -> None:
    state.conn.execute(account_keys.update().where(account_keys.c.keyid == keyid).values(revoked_at=at.index))
    # A cached copy would still show the key live: on replay and catch-up too, not only live.
    state.cache.keys.pop(keyid, None)
