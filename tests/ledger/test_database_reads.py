"""Plain-tuple reads, bulk inserts and lookups on the driver's cursor, statements that each commit alone,
and pooled PostgreSQL connections pinged only after a rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.database import (
    IDLE_PING,
    create_engine,
    driver_rows,
    insert_rows,
    is_sqlite,
    rows_with_keys,
    statement_snapshots,
)
from tests.conftest import fresh_database


def _engine(database_url: tuple[str, str | None]) -> sa.Engine:
    url, schema = database_url
    engine = create_engine(url, schema=schema)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (n BIGINT PRIMARY KEY, name VARCHAR(10))"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three')"))
    return engine


def _in_transaction(conn: sa.Connection) -> bool:
    """Whether the database connection itself (not SQLAlchemy's view of it) is in a transaction."""
    dbapi = conn.connection.driver_connection
    if is_sqlite(conn.engine):
        return bool(dbapi.in_transaction)  # type: ignore[union-attr]
    return bool(dbapi.info.transaction_status != 0)  # type: ignore[union-attr]  # 0: idle


def test_driver_rows_are_plain_tuples_with_question_mark_placeholders(database_url: tuple[str, str | None]) -> None:
    engine = _engine(database_url)
    with engine.connect() as conn:
        rows = driver_rows(conn, "SELECT n, name FROM t WHERE n > ? ORDER BY n LIMIT ?", (1, 5))
    assert rows == [(2, "two"), (3, "three")]
    assert all(type(row) is tuple for row in rows)
    engine.dispose()


def test_statement_snapshots_begin_no_transaction_and_leave_the_pool_as_it_was(
    database_url: tuple[str, str | None],
) -> None:
    engine = _engine(database_url)
    with statement_snapshots(engine.connect()) as conn:
        assert driver_rows(conn, "SELECT count(*) FROM t", ()) == [(3,)]
        assert conn.execute(sa.text("SELECT name FROM t WHERE n = 1")).scalar_one() == "one"
        assert not _in_transaction(conn)  # each statement committed alone
    with engine.connect() as conn:  # the same pooled connection, as the next request gets it
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 3
        assert _in_transaction(conn)  # BEGIN as before: a snapshot for the whole read
    engine.dispose()


def test_insert_rows_writes_each_value_as_given(database_url: tuple[str, str | None]) -> None:
    url, schema = database_url
    engine = create_engine(url, schema=schema)
    table = sa.Table(
        "bulk",
        sa.MetaData(),
        sa.Column("n", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(50), nullable=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("small", sa.Integer, nullable=True),
    )
    table.create(engine)
    rows = [
        (2**53, 'quote " comma, brace {} and \\ backslash', b"\x00\xff{}", 0),
        (1, None, b"", None),  # NULLs, and an empty byte string that is not NULL
        (-(2**40), "NULL", b"NULL", -7),  # the word NULL is text, not a null
    ]
    with engine.begin() as conn:
        insert_rows(conn, table, [])  # nothing to write: no statement
        insert_rows(conn, table, rows)
        insert_rows(conn, table, [(n, f"row {n}", bytes([n % 256]), n) for n in range(10, 1010)])  # a batch's worth
    with engine.connect() as conn:
        stored = [
            (n, name, bytes(data), small) for n, name, data, small in conn.execute(sa.select(table).order_by(table.c.n))
        ]
    assert stored[0] == rows[2] and stored[1] == rows[1] and stored[-1] == rows[0]
    assert stored[2:-1] == [(n, f"row {n}", bytes([n % 256]), n) for n in range(10, 1010)]
    if not is_sqlite(engine):  # (SQLite keeps strings of any length)
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:  # too long: refused, never cut short
            insert_rows(conn, table, [(5, "x" * 51, b"", None)])
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == len(stored)
    engine.dispose()


def test_rows_with_keys_finds_each_key_once_however_many_are_asked(database_url: tuple[str, str | None]) -> None:
    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t (n, name) VALUES (:n, 'n')"), [{"n": n} for n in range(4, 1204)])
    keys = [*range(0, 1300, 2), 2]  # 651 keys (more than one SQLite chunk), some absent, one twice
    with engine.connect() as conn:
        found = rows_with_keys(conn, "SELECT n, name FROM t", "n", keys)
        assert rows_with_keys(conn, "SELECT n, name FROM t", "n", []) == []
    assert sorted(n for n, _ in found) == list(range(2, 1204, 2))
    assert (2, "two") in found
    engine.dispose()


def test_a_postgresql_connection_that_rested_is_pinged_and_replaced_when_dead(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as (url, schema):
        engine = create_engine(url, schema=schema, pool_size=1, max_overflow=0)
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with engine.connect() as conn:  # used a moment ago: taken as it is, unpinged
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == first
        admin = create_engine(url)
        with admin.begin() as conn:
            assert conn.exec_driver_sql("SELECT pg_terminate_backend(%s)", (first,)).scalar_one()
        admin.dispose()
        (record,) = engine.pool._pool.queue  # type: ignore[attr-defined]
        record.info["returned_at"] -= IDLE_PING  # as if it had rested
        with engine.connect() as conn:  # its ping fails, and the pool connects afresh
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != first
        engine.dispose()
