"""The registry's state tables: a projection of the log, rebuilt by replaying it.

Nothing here is a source of truth. Every row is written by an event handler in the same
transaction as the log entry it came from, and :mod:`registry.replay` rebuilds them all
from entry 0. ``registry_head.applied`` counts the log entries the tables reflect, and
``registry_head.version`` the layout below: a different version is migrated by rebuilding
the projection from the log (docs/adr/0003-registry-state.md).

Columns named ``*_at`` hold the log index of the event that wrote the row.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ledger.database import upsert_insert

STATE_VERSION = 6
"""Bump when a table below changes: opening a registry then rebuilds its state from the log."""

metadata = sa.MetaData()

registry_head = sa.Table(
    "registry_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("applied", sa.BigInteger, nullable=False),
)

events = sa.Table(
    "reg_events",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("idx", sa.BigInteger, nullable=False, unique=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("digest", sa.LargeBinary, nullable=False),  # SHA-256 of the payload
    sa.Column("logged_at", sa.String(32), nullable=False),
)

accounts = sa.Table(
    "reg_accounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("country", sa.String(2)),
    sa.Column("subdivision", sa.String(6)),
    sa.Column("municipality", sa.String(12)),
    sa.Column("boundary_sha256", sa.String(64)),
    sa.Column("boundary_description", sa.String(500)),
    sa.Column("opened_at", sa.BigInteger, nullable=False),
)

account_keys = sa.Table(
    "reg_account_keys",
    metadata,
    sa.Column("keyid", sa.String(32), primary_key=True),  # DSSE keyid: hex SHA-256(public key)[:16]
    sa.Column("account", sa.String(64), nullable=False, index=True),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("bound_at", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger),
)

projects = sa.Table(
    "reg_projects",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("supplier", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("unit_type", sa.String(40), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("subdivision", sa.String(6)),
    sa.Column("municipality", sa.String(12)),
    sa.Column("latitude", sa.String(20)),
    sa.Column("longitude", sa.String(20)),
    sa.Column("methodology", sa.String(500), nullable=False),
    sa.Column("scheme", sa.String(500), nullable=False),
    sa.Column("external_ids", sa.Text, nullable=False),  # canonical JSON list
    sa.Column("registered_at", sa.BigInteger, nullable=False),
)

batches = sa.Table(
    "reg_batches",
    metadata,
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("project", sa.String(64), nullable=False, index=True),
    sa.Column("vintage", sa.Integer, nullable=False),
    sa.Column("monitoring_start", sa.Date, nullable=False),
    sa.Column("monitoring_end", sa.Date, nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("buffer", sa.BigInteger, nullable=False),
    sa.Column("first", sa.BigInteger, nullable=False, unique=True),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("durability_years", sa.Integer, nullable=False),
    sa.Column("expires", sa.Date),
    sa.Column("report_sha256", sa.String(64), nullable=False),
    sa.Column("corresponding_adjustment", sa.Boolean),  # None: the issuance does not say
    sa.Column("supplier", sa.String(64), nullable=False),
    sa.Column("verifier", sa.String(64), nullable=False),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
)

blocks = sa.Table(
    "reg_blocks",
    metadata,
    # A block is a run of serials in one state; the blocks of a batch tile it exactly.
    sa.Column("first", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("holder", sa.String(64)),  # None for the buffer pool
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("since", sa.BigInteger, nullable=False),
    sa.Index("ix_reg_blocks_holder", "holder", "status", "first"),
    sa.Index("ix_reg_blocks_batch", "batch", "first"),
)

batch_supply = sa.Table(
    "reg_batch_supply",
    metadata,
    # Units of each batch by status, kept as the blocks change (registry.working), so that a
    # batch's supply is one row however many blocks it has been split into.
    sa.Column("batch", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("held", sa.BigInteger, nullable=False),
    sa.Column("buffer", sa.BigInteger, nullable=False),
    sa.Column("retired", sa.BigInteger, nullable=False),
    sa.Column("cancelled", sa.BigInteger, nullable=False),
)

holder_totals = sa.Table(
    "reg_holder_totals",
    metadata,
    # Units each account holds by status, kept as the blocks change (registry.working), so that a
    # holdings total is one row however many blocks the account holds. No row: no units.
    sa.Column("holder", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("units", sa.BigInteger, nullable=False),  # not indexed: PostgreSQL updates it in place (HOT)
)

movements = sa.Table(
    "reg_movements",
    metadata,
    # One row per range an event touched: the lineage of every unit (DESIGN.md §4).
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("first", sa.BigInteger, nullable=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("sender", sa.String(64)),
    sa.Column("receiver", sa.String(64)),
    # The log indices of the steps these units came from (the blocks' ``since``), space-separated:
    # the edges of the ownership graph (registry.lineage). Empty for an issuance.
    sa.Column("parents", sa.Text, nullable=False),
    sa.Index("ix_reg_movements_batch", "batch", "first"),
)

retirements = sa.Table(
    "reg_retirements",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.String(64), nullable=False, index=True),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("first", sa.BigInteger, nullable=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("beneficiary_account", sa.String(64), index=True),
    sa.Column("beneficiary_name", sa.String(500)),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("period_year", sa.Integer),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("jurisdiction", sa.String(32), nullable=False),
)

cancellations = sa.Table(
    "reg_cancellations",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("project", sa.String(64), nullable=False, index=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.Column("from_buffer", sa.BigInteger, nullable=False),
    sa.Column("affected", sa.String(120)),  # the serials cancelled outside the buffer pool, printed
    sa.Column("destination_registry", sa.String(500)),
    sa.Column("destination_account", sa.String(500)),
    sa.Column("note", sa.String(500), nullable=False),
)

claims = sa.Table(
    "reg_claims",
    metadata,
    # A city's claim of retired units against its balance for a reporting year.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("city", sa.String(64), nullable=False, index=True),
    sa.Column("retirement", sa.BigInteger, nullable=False, index=True),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("first", sa.BigInteger, nullable=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Index("ix_reg_claims_batch", "batch", "first"),
)

inventories = sa.Table(
    "reg_inventories",
    metadata,
    # A city's inventory for a reporting year (an ``inventory`` event); a revision supersedes it.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("city", sa.String(64), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("period_start", sa.Date, nullable=False),
    sa.Column("period_end", sa.Date, nullable=False),
    sa.Column("base_year", sa.Boolean, nullable=False),
    sa.Column("gwp", sa.String(8), nullable=False),
    sa.Column("revises", sa.BigInteger),
    sa.Column("superseded_by", sa.BigInteger),  # None while it is the city's inventory for the year
    sa.Index("ix_reg_inventories_city", "city", "year"),
)
inventory_emissions = sa.Table(
    "reg_inventory_emissions",
    metadata,
    # One line of an inventory: a GPC sector and scope, in tonnes or a notation key.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sector", sa.String(20), nullable=False),
    sa.Column("subsector", sa.String(500)),
    sa.Column("scope", sa.SmallInteger, nullable=False),
    sa.Column("tonnes", sa.BigInteger),
    sa.Column("notation", sa.String(2)),
)
inventory_removals = sa.Table(
    "reg_inventory_removals",
    metadata,
    # Removals inside the city's boundary that an inventory counts; ``project`` when also credited.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("line", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("method", sa.String(40), nullable=False),
    sa.Column("durability", sa.String(10), nullable=False),
    sa.Column("tonnes", sa.BigInteger, nullable=False),
    sa.Column("project", sa.String(64), index=True),
    sa.Column("description", sa.String(500)),
)
policies = sa.Table(
    "reg_policies",
    metadata,
    # The claim rules the operator set (a ``policy`` event), in force from ``idx`` on.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("retirement_window_days", sa.Integer),
)
findings = sa.Table(
    "reg_findings",
    metadata,
    # A double-counting finding (registry.findings), raised by the entry at ``idx``.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(40), nullable=False, index=True),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("evidence", sa.String(400), nullable=False),  # log indices, space-separated, ascending
    sa.Column("project", sa.String(64), index=True),
    sa.Column("account", sa.String(64), index=True),
    sa.Column("detail", sa.Text, nullable=False),  # canonical JSON object: the facts behind the message
)

finding_units = sa.Table(
    "reg_finding_units",
    metadata,
    # The units a finding touches; a claim on any of them is checked against it.
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("first", sa.BigInteger, nullable=False),
    sa.Column("last", sa.BigInteger, nullable=False),
    sa.Index("ix_reg_finding_units_batch", "batch", "first"),
)

imports = sa.Table(
    "reg_imports",
    metadata,
    # One part of an imported public export of another registry (an ``import`` event).
    sa.Column("file_sha256", sa.String(64), primary_key=True),
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("parts", sa.Integer, nullable=False),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("file_kind", sa.String(64), nullable=False),
    sa.Column("file_name", sa.String(500), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("problems", sa.Integer, nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False, unique=True),
)

external_records = sa.Table(
    "reg_external_records",
    metadata,
    # A row of another registry's export, normalised (registry.external).
    sa.Column("file_sha256", sa.String(64), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, nullable=False),  # the import event that carried it
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("project", sa.String(100), nullable=False),
    # The project id as projects declare it, normalised (registry.findings.project_key).
    sa.Column("project_key", sa.String(100), nullable=False, index=True),
    sa.Column("project_name", sa.Text),
    sa.Column("country", sa.String(2)),
    sa.Column("method", sa.Text),
    sa.Column("removal_method", sa.String(40)),
    sa.Column("unit_class", sa.String(16)),
    sa.Column("quantity", sa.BigInteger),
    sa.Column("vintage", sa.Integer),
    sa.Column("period_start", sa.Date),
    sa.Column("period_end", sa.Date),
    sa.Column("date", sa.Date),
    sa.Column("serial", sa.Text),
    sa.Column("serial_block", sa.Text),
    sa.Column("serial_first", sa.BigInteger),
    sa.Column("serial_last", sa.BigInteger),
    sa.Column("beneficiary", sa.Text),
    sa.Index("ix_reg_external_records_serial", "source", "serial_block", "serial_first"),
    sa.Index("ix_reg_external_records_place", "country", "removal_method"),
)

import_problems = sa.Table(
    "reg_import_problems",
    metadata,
    # A row of an export that could not be used as published, and why (never dropped silently).
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),  # the import event
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),  # its place in the event
    sa.Column("file_sha256", sa.String(64), nullable=False, index=True),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("field", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

HEAD_ID = 1
STATE_TABLES = (
    events,
    accounts,
    account_keys,
    projects,
    batches,
    blocks,
    batch_supply,
    holder_totals,
    movements,
    retirements,
    cancellations,
    claims,
    inventories,
    inventory_emissions,
    inventory_removals,
    policies,
    findings,
    finding_units,
    imports,
    external_records,
    import_problems,
)


def create_state_tables(engine: Engine) -> None:
    """Create the state tables and their head row if they do not exist."""
    metadata.create_all(engine)
    head = upsert_insert(engine, registry_head).values(id=HEAD_ID, version=STATE_VERSION, applied=0)
    with engine.begin() as conn:
        conn.execute(head.on_conflict_do_nothing(index_elements=["id"]))


def record_applied(conn: Connection, size: int) -> None:
    """Record that the state tables reflect the first ``size`` log entries."""
    conn.execute(registry_head.update().where(registry_head.c.id == HEAD_ID).values(applied=size))


def drop_state_tables(conn: Connection) -> None:
    """Drop every state table (the log tables stay): the projection is about to be rebuilt."""
    metadata.drop_all(conn)
