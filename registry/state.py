"""Applying one event to the registry's state: the single path for live writes and replay.

:func:`find_duplicate` first refuses an event for another registry, then answers a
resubmission (same id, same bytes) with its original index; :func:`apply_event` then checks
that its signatures carry the authority it needs at this log index, and the rules of its
handler. Each event type
has exactly one handler. The caller undoes a refused event:
:meth:`~registry.working.WorkingState.rollback_to` for the working state and, for
:data:`DIRECT_WRITERS`, a database savepoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc

from ledger.dsse import Envelope
from registry import (
    accounts,
    authority,
    cancellations,
    claims,
    imports,
    inventories,
    issuance,
    policy,
    projects,
    retirements,
    transfers,
)
from registry.errors import IdempotencyConflictError, InvalidEventError, UnauthorisedError, WrongRegistryError
from registry.events import (
    AccountOpened,
    AnyEvent,
    Cancelled,
    Claimed,
    Imported,
    Inventoried,
    Issued,
    KeyBound,
    KeyRevoked,
    KeyRotated,
    OperatorEvent,
    PolicySet,
    ProjectRegistered,
    Retired,
    Sold,
    Transferred,
)
from registry.position import Position
from registry.vocabulary import Role
from registry.working import WorkingState

Handler = Callable[[WorkingState, Any, Position], object]

HANDLERS: dict[type[AnyEvent], Handler] = {
    AccountOpened: accounts.open_account,
    KeyBound: accounts.bind_key,
    KeyRotated: accounts.rotate_key,
    KeyRevoked: accounts.revoke_key,
    ProjectRegistered: projects.register_project,
    Issued: issuance.issue,
    Transferred: transfers.transfer,
    Sold: transfers.transfer,
    Retired: retirements.retire,
    Cancelled: cancellations.cancel,
    Imported: imports.import_rows,
    Claimed: claims.claim,
    Inventoried: inventories.record_inventory,
    PolicySet: policy.set_policy,
}


DIRECT_WRITERS: frozenset[type[AnyEvent]] = frozenset(
    {
        AccountOpened,
        KeyBound,
        KeyRotated,
        KeyRevoked,
        ProjectRegistered,
        Issued,
        Cancelled,
        Imported,
        Claimed,
        Inventoried,
        PolicySet,
    }
)
"""Event types whose handlers write to the database directly: they run in a savepoint, and the
caches they could make stale are dropped after them (registry.working). The others — the bulk
of the traffic — only change the working state, which is written when the batch commits."""


@dataclass(frozen=True)
class Applied:
    """The outcome of an event: its log index, and whether it had been accepted before."""

    index: int
    event_id: str
    type: str
    duplicate: bool = False
    entry: bytes | None = field(default=None, repr=False, compare=False)
    """The log entry as this write appended it (None for a duplicate): a receipt needs no read."""


def payload_digest(envelope: Envelope) -> bytes:
    return hashlib.sha256(envelope.payload).digest()


def find_duplicate(state: WorkingState, origin: str, event: AnyEvent, envelope: Envelope) -> Applied | None:
    """Return the earlier acceptance of this exact event, or None if its id is new.

    Raises :class:`WrongRegistryError` if the event is for another registry's log (whatever its
    id: it was never this registry's event), and :class:`IdempotencyConflictError` if the id
    was used here for a different payload.
    """
    # Replay protection: an envelope signed for another registry's log is not valid here.
    if event.registry != origin:
        raise WrongRegistryError(event.registry, origin)
    found = state.accepted_event(event.id)
    if found is None:
        return None
    index, digest = found
    if digest != payload_digest(envelope):
        raise IdempotencyConflictError(event.id, index)
    return Applied(index, event.id, event.type, duplicate=True)


def apply_event(
    state: WorkingState,
    *,
    envelope: Envelope,
    event: AnyEvent,
    at: Position,
    verified: Mapping[str, bytes],
) -> None:
    """Check ``event`` against ``state`` and make its changes, as entry ``at.index``.

    The caller has run :func:`find_duplicate` first (which also refuses other registries' events).

    ``verified`` holds the signing keys whose signatures were already checked. Raises a
    :class:`~registry.errors.RegistryError` for anything the event may not do; the caller
    must roll back to before the call when it does.
    """
    if at.index == 0:
        _authorise_genesis(envelope, event)
    else:
        authority.authorise(state, envelope, event.signers(), verified, operator=isinstance(event, OperatorEvent))
    HANDLERS[type(event)](state, event, at)
    state.add(
        "reg_events",
        {
            "id": event.id,
            "idx": at.index,
            "type": event.type,
            "digest": payload_digest(envelope),
            "logged_at": at.logged_at,
        },
    )


def apply_or_undo(
    state: WorkingState,
    *,
    envelope: Envelope,
    event: AnyEvent,
    at: Position,
    verified: Mapping[str, bytes],
    then: Callable[[], object] | None = None,
) -> None:
    """:func:`apply_event`, then ``then`` (a live write's log append); if either raises, undo both.

    The working state rolls back to before the event and a direct writer's rows to a savepoint,
    so a refused event leaves nothing behind; the error propagates.
    """
    if type(event) in DIRECT_WRITERS:
        # A direct writer reads the database: the rows the batch holds back are written first
        # (outside its savepoint, which must undo only the event's own writes).
        state.flush()
    mark = state.mark()
    try:
        if type(event) in DIRECT_WRITERS:
            try:
                with state.conn.begin_nested():
                    apply_event(state, envelope=envelope, event=event, at=at, verified=verified)
                    if then is not None:
                        then()
            finally:
                state.cache.forget_rows()
        else:
            apply_event(state, envelope=envelope, event=event, at=at, verified=verified)
            if then is not None:
                then()
    except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
        # The event models bound what a handler writes; should a value still not fit a column,
        # the event is refused (and, on replay, void) rather than failing the whole batch.
        state.rollback_to(mark)
        raise InvalidEventError("payload", f"the database refused a value: {exc.orig}") from exc
    except BaseException:
        state.rollback_to(mark)
        raise


def _authorise_genesis(envelope: Envelope, event: AnyEvent) -> None:
    # The log's first entry opens the operator's own account, signed by a key it binds: the
    # root of every later authority, as the log key is the root of every checkpoint.
    if not (isinstance(event, AccountOpened) and event.role == Role.OPERATOR and event.account == event.operator):
        raise UnauthorisedError("the first event of a registry must open the operator's own account")
    authority.authorise_genesis(envelope, event.keys)
