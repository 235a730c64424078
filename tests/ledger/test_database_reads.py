"""Plain-tuple reads on the driver's cursor, and connections whose statements each commit alone."""

from __future__ import annotations

import sqlalchemy as sa

from ledger.database import create_engine, driver_rows, is_sqlite, statement_snapshots


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
