"""Reads of the registry's state, for the API and the CLI: plain JSON-ready dictionaries.

Lists are ordered by a key and paginated by cursor (``after`` the last key returned), so a
page costs the same on a registry of a million blocks as on one of ten; a page's ``next`` is
None when it is the last. Every printed
serial range is in the form of :mod:`registry.serials`.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledger.database import driver_rows
from registry import serials
from registry.errors import RecordNotFoundError
from registry.schema import (
    account_keys,
    accounts,
    batch_supply,
    batches,
    blocks,
    cancellations,
    events,
    holder_totals,
    movements,
    projects,
    retirements,
)
from registry.serials import SerialRange
from registry.vocabulary import BlockStatus

Row = dict[str, Any]
MAX_PAGE = 1000


def account(conn: Connection, account_id: str) -> Row:
    """An account with its keys (bound and revoked, with the log indices that did it)."""
    row = conn.execute(_ACCOUNT, {"id": account_id}).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no account {account_id!r}", "account")
    keys = conn.execute(_ACCOUNT_KEYS, {"account": account_id})
    result: Row = {
        "id": row.id,
        "role": row.role,
        "name": row.name,
        "opened_at": row.opened_at,
        "keys": [{"keyid": k.keyid, "bound_at": k.bound_at, "revoked_at": k.revoked_at} for k in keys],
    }
    if row.country is not None:
        result["jurisdiction"] = {
            "country": row.country,
            "subdivision": row.subdivision,
            "municipality": row.municipality,
        }
        result["boundary"] = {"geojson_sha256": row.boundary_sha256, "description": row.boundary_description}
    return result


def holdings(conn: Connection, account_id: str, *, status: BlockStatus, after: int | None, limit: int) -> Row:
    """The blocks ``account_id`` holds (or has retired) in serial order, after serial ``after``,
    and the total of all of them.

    A page that holds blocks is read with its total in one statement, so the two agree. An
    empty page takes more statements, each its own snapshot. As the pages of a list are read
    at different times, a transfer committed between two of them shows in the later one.
    """
    held = (account_id, status.value)
    # Serials are never negative: -1 is "from the start".
    rows = driver_rows(conn, _HOLDINGS, (*held, *held, -1 if after is None else after, _fetch(limit)))
    if rows:
        total = rows[0][-1] or 0  # NULL only if no totals row; the flush keeps one for every holding
    elif conn.execute(_ACCOUNT_EXISTS, {"id": account_id}).first() is None:
        raise RecordNotFoundError(f"no account {account_id!r}", "account")  # 404 rather than an empty list
    else:
        # From the start, an empty page means no units; past the last block, the total stands alone.
        found = driver_rows(conn, _HOLDINGS_TOTAL, held) if after is not None else []
        total = found[0][0] if found else 0
    page = _page([_block(r[:-1]) for r in rows], limit, "first")  # the last column is the total
    return {"account": account_id, "status": status.value, "total": int(total), **page}


# The hot reads are built once, with bound parameters: building a statement per request
# (and its cache key) cost about 100 µs, twice what running it costs.
_ACCOUNT = sa.select(accounts).where(accounts.c.id == sa.bindparam("id"))
_ACCOUNT_EXISTS = sa.select(sa.literal(1)).where(accounts.c.id == sa.bindparam("id"))
_ACCOUNT_KEYS = (
    sa.select(account_keys).where(account_keys.c.account == sa.bindparam("account")).order_by(account_keys.c.bound_at)
)
# The holdings page and total go to the driver as written, and come back as plain tuples:
# SQLAlchemy's statement and row handling cost half of what the read itself does.
# The total is one row, kept as the blocks change (summing the blocks would cost a row per
# block held).
_HOLDINGS_TOTAL = f"SELECT units FROM {holder_totals.name} WHERE holder = ? AND status = ?"
# The page carries the total in a last column: an uncorrelated subquery, which both databases
# evaluate once per statement. One statement, not two: on PostgreSQL a round trip each.
_HOLDINGS = (
    f"SELECT b.first, b.last, b.batch, b.holder, b.status, b.since, t.project, t.vintage, ({_HOLDINGS_TOTAL})"
    f" FROM {blocks.name} b JOIN {batches.name} t ON t.number = b.batch"
    " WHERE b.holder = ? AND b.status = ? AND b.first > ? ORDER BY b.first LIMIT ?"
)


def project(conn: Connection, project_id: str) -> Row:
    """A project and the numbers of its batches."""
    row = conn.execute(sa.select(projects).where(projects.c.id == project_id)).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no project {project_id!r}", "project")
    numbers = conn.execute(
        sa.select(batches.c.number).where(batches.c.project == project_id).order_by(batches.c.number)
    ).scalars()
    return _project(row) | {"batches": list(numbers)}


def project_list(conn: Connection, *, after: str | None, limit: int) -> Row:
    """Projects in id order, after id ``after``."""
    query = sa.select(projects).order_by(projects.c.id).limit(_fetch(limit))
    if after is not None:
        query = query.where(projects.c.id > after)
    return _page([_project(r) for r in conn.execute(query)], limit, "id")


def batch(conn: Connection, number: int) -> Row:
    """A batch, its supply by status (issued = held + buffer + retired + cancelled) and its serials."""
    row = conn.execute(sa.select(batches).where(batches.c.number == number)).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no batch {number}", "batch")
    # One row kept as the blocks change: the same cost however finely the batch is split.
    counted = conn.execute(sa.select(batch_supply).where(batch_supply.c.batch == number)).one()
    supply = {status.value: int(getattr(counted, status.value)) for status in BlockStatus}
    return {
        "number": row.number,
        "serial": serials.printed(row.project, row.vintage, row.number, row.first, row.last),
        "project": row.project,
        "vintage": row.vintage,
        "monitoring_period": {"start": row.monitoring_start.isoformat(), "end": row.monitoring_end.isoformat()},
        "quantity": row.quantity,
        "buffer": row.buffer,
        "durability_years": row.durability_years,
        "expires": row.expires.isoformat() if row.expires else None,
        "report_sha256": row.report_sha256,
        "supplier": row.supplier,
        "verifier": row.verifier,
        "issued_at": row.issued_at,
        "supply": supply,
    }


def batch_issued_at(conn: Connection, index: int) -> SerialRange:
    """The serial range of the batch issued by the event at log ``index``."""
    row = conn.execute(sa.select(batches).where(batches.c.issued_at == index)).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no batch was issued at log index {index}", "batch")
    return SerialRange(row.project, row.vintage, row.number, row.first, row.last)


def batch_blocks(conn: Connection, number: int, *, after: int | None, limit: int) -> Row:
    """The blocks of batch ``number`` in serial order: where each of its units stands."""
    batch(conn, number)
    query = (
        sa.select(*_BLOCK_COLUMNS)
        .join(batches, batches.c.number == blocks.c.batch)
        .where(blocks.c.batch == number)
        .order_by(blocks.c.first)
        .limit(_fetch(limit))
    )
    if after is not None:
        query = query.where(blocks.c.first > after)
    return _page([_block(r) for r in conn.execute(query)], limit, "first")


def retirement_list(
    conn: Connection, *, beneficiary: str | None, holder: str | None, after: int | None, limit: int
) -> Row:
    """Retirements in log order, optionally for one beneficiary account or by one holder."""
    query = (
        sa.select(retirements, batches.c.project, batches.c.vintage)
        .join(batches, batches.c.number == retirements.c.batch)
        .order_by(retirements.c.idx)
        .limit(_fetch(limit))
    )
    if beneficiary is not None:
        query = query.where(retirements.c.beneficiary_account == beneficiary)
    if holder is not None:
        query = query.where(retirements.c.holder == holder)
    if after is not None:
        query = query.where(retirements.c.idx > after)
    return _page([_retirement(r) for r in conn.execute(query)], limit, "index")


def retirement(conn: Connection, index: int) -> Row:
    """The retirement logged at ``index``."""
    row = conn.execute(
        sa.select(retirements, batches.c.project, batches.c.vintage)
        .join(batches, batches.c.number == retirements.c.batch)
        .where(retirements.c.idx == index)
    ).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no retirement at log index {index}", "retirement")
    return _retirement(row)


def history(conn: Connection, printed: str) -> Row:
    """Every logged step that touched any unit of the serial range ``printed``, in log order."""
    serial = resolve(conn, printed)
    rows = conn.execute(
        sa.select(movements)
        .where(movements.c.batch == serial.batch, movements.c.first <= serial.last, movements.c.last >= serial.first)
        .order_by(movements.c.idx, movements.c.part)
    )
    steps = [
        {
            "index": r.idx,
            "kind": r.kind,
            "serial": str(serial.sub(r.first, r.last)),
            "from": r.sender,
            "to": r.receiver,
        }
        for r in rows
    ]
    current = [
        _block(r)
        for r in conn.execute(
            sa.select(*_BLOCK_COLUMNS)
            .join(batches, batches.c.number == blocks.c.batch)
            .where(blocks.c.batch == serial.batch, blocks.c.first <= serial.last, blocks.c.last >= serial.first)
            .order_by(blocks.c.first)
        )
    ]
    return {"serial": str(serial), "steps": steps, "blocks": current}


def cancellation_list(conn: Connection, *, after: int | None, limit: int) -> Row:
    """Cancellations in log order."""
    query = sa.select(cancellations).order_by(cancellations.c.idx).limit(_fetch(limit))
    if after is not None:
        query = query.where(cancellations.c.idx > after)
    items = [
        {
            "index": r.idx,
            "reason": r.reason,
            "project": r.project,
            "quantity": r.quantity,
            "from_buffer": r.from_buffer,
            "serial": r.affected,
            "destination": {"registry": r.destination_registry, "account": r.destination_account}
            if r.destination_registry
            else None,
            "note": r.note,
        }
        for r in conn.execute(query)
    ]
    return _page(items, limit, "index")


def event(conn: Connection, event_id: str) -> tuple[int, str]:
    """The log index and type of the event with idempotency id ``event_id``."""
    row = conn.execute(sa.select(events.c.idx, events.c.type).where(events.c.id == event_id)).one_or_none()
    if row is None:
        raise RecordNotFoundError(f"no event with id {event_id!r}", "event")
    return int(row.idx), str(row.type)


def _fetch(limit: int) -> int:
    # One row beyond the page tells whether another page follows.
    return min(limit, MAX_PAGE) + 1


def _page(items: list[Row], limit: int, key: str) -> Row:
    """A page of at most ``limit`` items of a query that fetched :func:`_fetch` rows.

    ``next`` is the key of the page's last item when more items follow, and None on the last
    page, so that a client never asks for an empty page.
    """
    size = min(limit, MAX_PAGE)
    page = items[:size]
    return {"items": page, "next": page[-1][key] if len(items) > size else None}


_BLOCK_COLUMNS = (
    blocks.c.first,
    blocks.c.last,
    blocks.c.batch,
    blocks.c.holder,
    blocks.c.status,
    blocks.c.since,
    batches.c.project,
    batches.c.vintage,
)
"""What :func:`_block` reads, in its order (the holdings statement names the same columns)."""


def _block(r: Any) -> Row:
    # Unpacked as a tuple, in the order of _BLOCK_COLUMNS: a holdings page builds a hundred of
    # these, and named access costs more than the rest.
    first, last, batch, holder, status, since, project, vintage = r
    return {
        "serial": serials.printed(project, vintage, batch, first, last),
        "first": first,
        "last": last,
        "quantity": last - first + 1,
        "batch": batch,
        "holder": holder,
        "status": status,
        "since": since,
    }


def _project(r: Any) -> Row:
    location = {
        "country": r.country,
        "subdivision": r.subdivision,
        "municipality": r.municipality,
        "latitude": r.latitude,
        "longitude": r.longitude,
    }
    return {
        "id": r.id,
        "supplier": r.supplier,
        "name": r.name,
        "method": r.method,
        "unit_type": r.unit_type,
        "location": {k: v for k, v in location.items() if v is not None},
        "methodology": r.methodology,
        "scheme": r.scheme,
        "external_ids": json.loads(r.external_ids),
        "registered_at": r.registered_at,
    }


def _retirement(r: Any) -> Row:
    period: Row = {"start": r.period_start.isoformat(), "end": r.period_end.isoformat()}
    if r.period_year is not None:
        period = {"year": r.period_year} | period
    return {
        "index": r.idx,
        "serial": serials.printed(r.project, r.vintage, r.batch, r.first, r.last),
        "quantity": r.last - r.first + 1,
        "holder": r.holder,
        "beneficiary": {"account": r.beneficiary_account} if r.beneficiary_account else {"name": r.beneficiary_name},
        "purpose": r.purpose,
        "period": period,
        "jurisdiction": r.jurisdiction,
    }


def resolve(conn: Connection, printed: str) -> SerialRange:
    """The serial range ``printed`` names; raise :class:`RecordNotFoundError` unless its batch exists as printed."""
    try:
        serial = serials.parse(printed)
    except serials.SerialFormatError as exc:
        raise RecordNotFoundError(str(exc), "serial") from None
    found = conn.execute(
        sa.select(batches.c.project, batches.c.vintage).where(batches.c.number == serial.batch)
    ).one_or_none()
    if found is None or (found.project, found.vintage) != (serial.project, serial.vintage):
        raise RecordNotFoundError(f"no batch {serial.batch} of {serial.project} {serial.vintage}", "batch")
    return serial
