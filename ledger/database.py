"""Database engines for the log store: SQLite (embedded) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL``, so a committed transaction survives a
crash or power loss, and with a 32 MiB page cache per connection (SQLite's default, 2 MiB,
has a registry of a million blocks reread index pages every batch); pooled connections are
reused last-in first-out, so the few in use keep their caches warm. The sequencer's
transactions start with ``BEGIN IMMEDIATE`` (execution option ``sqlite_begin``) so that
concurrent writers queue instead of failing half-way. PostgreSQL keeps its defaults
(``synchronous_commit=on``); writers serialise on the log head row.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine


def create_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> Engine:
    """Return an engine for ``url`` set up for durable, serialised log writes.

    ``schema`` selects a PostgreSQL schema (tests use one per test).
    """
    if url.startswith("sqlite"):
        # Room for every thread that may read at once (FastAPI's 40 for the pages, the read
        # threads, the committer): beyond the pool, each would open a connection, run its
        # PRAGMAs and close it again. Last-in first-out keeps the busy ones' caches warm.
        if "poolclass" not in kwargs and sa.engine.make_url(url).database not in (None, "", ":memory:"):
            kwargs = {"pool_size": 40, "max_overflow": 20, "pool_use_lifo": True, **kwargs}
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        # psycopg 3 is the driver the writes are built for (binary arrays, pipeline mode).
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    # Ten kept (a server's request threads reuse them), thirty more under load.
    if "poolclass" not in kwargs:
        kwargs = {"pool_size": 10, "max_overflow": 30, **kwargs}
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    sa.event.listen(engine, "connect", _note_returned)  # a new connection needs no ping
    sa.event.listen(engine, "checkin", _note_returned)
    sa.event.listen(engine, "checkout", _ping_if_idle)
    return engine


IDLE_PING = 1.0
"""Seconds a pooled PostgreSQL connection may rest before it is pinged again on checkout."""


def _note_returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # A connection that rested may have been closed by the server (a restart, an idle timeout):
    # ping it, and on failure let the pool replace it (SQLAlchemy's pessimistic disconnect
    # handling: DisconnectionError makes the pool retry with a fresh connection). One used
    # within the last second is taken as it is: pinging it too (pool_pre_ping) cost every
    # checkout a round trip, the writer's two a batch and every read one more. Should the
    # server go away within that second, the requests that use such a connection fail; a
    # failure SQLAlchemy sees as a disconnect drops the whole pool (driver-level reads and
    # pipelined writes fail as the driver's own errors, which it does not see), and any
    # connection that rests a second is pinged again.
    returned = record.info.get("returned_at")
    if returned is not None and time.monotonic() - returned < IDLE_PING:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()  # end the transaction the ping began: the caller begins its own
    except Exception as exc:
        raise sa.exc.DisconnectionError(f"a pooled connection failed its ping: {exc}") from exc


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def upsert_insert(engine: Engine, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT into ``table`` that can take ``ON CONFLICT`` (``on_conflict_do_nothing`` or
    ``on_conflict_do_update``): both databases speak it, each through its own dialect."""
    return sqlite.insert(table) if is_sqlite(engine) else postgresql.insert(table)


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert value tuples, in ``table``'s column order, without SQLAlchemy's per-row work.

    For the hot tables: plain values (ints, strings, bytes) need none of SQLAlchemy's per-row
    parameter processing, which would cost more than the insert. SQLite steps one prepared
    statement per row (the driver's executemany, in process). PostgreSQL gets one statement
    with an array per column (``INSERT … SELECT FROM unnest(…)``): each row of an executemany
    would cost the server a bind and an execute of its own, and a statement of many ``VALUES``
    rows has a text that changes with the row count, which psycopg parses afresh every time.
    """
    if not rows:
        return
    if is_sqlite(conn.engine):
        columns = ", ".join(c.name for c in table.columns)
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({columns}) VALUES ({', '.join('?' * len(table.columns))})", rows
        )
        return
    conn.exec_driver_sql(_unnest_insert(conn.dialect, table), tuple(list(column) for column in zip(*rows, strict=True)))


def _unnest_insert(dialect: sa.Dialect, table: sa.Table) -> str:
    """``INSERT INTO table (…) SELECT * FROM unnest(%b::type[], …)``, one array per column.

    The arrays travel in binary (``%b``): in text, psycopg quotes each element in Python.
    """
    key = (dialect.name, table)
    if (statement := _UNNEST_INSERTS.get(key)) is None:
        columns = ", ".join(c.name for c in table.columns)
        # Arrays of the base types: a cast to VARCHAR(n) would cut a longer string short, while
        # the INSERT's own assignment to the column refuses it, as a row of VALUES would be.
        arrays = ", ".join(f"%b::{_array_type(c, dialect)}[]" for c in table.columns)
        statement = _UNNEST_INSERTS[key] = f"INSERT INTO {table.name} ({columns}) SELECT * FROM unnest({arrays})"
    return statement


def _array_type(column: sa.Column[Any], dialect: sa.Dialect) -> str:
    compiled = column.type.compile(dialect=dialect)
    if compiled.startswith(("CHAR", "BIT")) or "COLLATE" in compiled:
        # CHAR and BIT without a length mean length 1, and a collation cannot follow [].
        raise TypeError(f"insert_rows cannot send column {column.name} ({compiled}) as an array")
    return _LENGTH.sub("", compiled)


_UNNEST_INSERTS: dict[tuple[str, sa.Table], str] = {}
_LENGTH = re.compile(r"\(\d+(\s*,\s*\d+)?\)")  # VARCHAR(64), NUMERIC(10, 2)


@contextmanager
def pipelined(conn: sa.Connection) -> Iterator[None]:
    """Send the statements run inside without waiting for each one's answer (PostgreSQL).

    For writes whose results no one reads: psycopg's pipeline mode sends each statement at
    once and reads every answer at the end, so a batch's dozen INSERTs, UPDATEs and DELETEs
    cost one round trip instead of one each. A statement that fails raises at the end, as the
    driver's own error (SQLAlchemy saw the statement sent, not its failure), and the
    transaction must be rolled back. SQLite runs in process: nothing to save.
    """
    if is_sqlite(conn.engine):
        yield
        return
    with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]
        yield


def delete_rows(conn: sa.Connection, table: sa.Table, column: str, keys: list[Any]) -> None:
    """Delete the rows of ``table`` whose ``column`` is one of ``keys``: one statement on PostgreSQL
    (``= ANY`` of an array), the driver's executemany on SQLite."""
    if is_sqlite(conn.engine):
        conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE {column} = ?", [(k,) for k in keys])
        return
    conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE {column} = ANY(%s)", (list(keys),))


def rows_with_keys(conn: sa.Connection, select: str, column: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``select`` (``SELECT … FROM table``, no WHERE) whose ``column`` is one of
    ``keys``, as plain tuples (:func:`driver_rows`, so inside the connection's transaction).

    One statement with ``= ANY`` of an array on PostgreSQL: a list of ``IN`` placeholders
    would make a statement text of its own for every count, which psycopg parses afresh (10 ms
    for a batch of 500 ids). SQLite gets ``IN`` lists of at most 500, as it caps parameters.
    """
    keys = list(dict.fromkeys(keys))  # each row once, even for a key asked twice in two chunks
    if not keys:
        return []
    if not is_sqlite(conn.engine):
        return driver_rows(conn, f"{select} WHERE {column} = ANY(?)", (keys,))
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        rows.extend(driver_rows(conn, f"{select} WHERE {column} IN ({', '.join('?' * len(chunk))})", chunk))
    return rows


def driver_rows(conn: sa.Connection, statement: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of query ``statement`` (``?`` placeholders, :func:`driver_sql`) as plain tuples.

    It runs on the connection's own DB-API cursor: SQLAlchemy's result rows cost about 1.4 µs
    each, which a page of a hundred blocks feels (holdings: 341 → 230 µs in process). So it
    bypasses SQLAlchemy's transaction events and error handling:

    - inside a transaction the connection has begun, it is part of it;
    - otherwise, on SQLite it runs with no BEGIN (a snapshot of its own), and on PostgreSQL
      psycopg begins a transaction SQLAlchemy does not track, which the pool's rollback ends
      when the connection is returned (none under :func:`statement_snapshots`);
    - a driver error propagates as the driver's own, and does not invalidate the connection.
    """
    (rows,) = driver_queries(conn, [(statement, parameters)])
    return rows


def driver_queries(conn: sa.Connection, queries: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
    """:func:`driver_rows` of each query, all sent before any is read.

    Inside :func:`pipelined` on PostgreSQL the queries then cost one round trip together.
    """
    driver = conn.connection.driver_connection
    cursors = [driver.cursor() for _ in queries]  # type: ignore[union-attr]
    try:
        for cursor, (statement, parameters) in zip(cursors, queries, strict=True):
            cursor.execute(driver_sql(conn, statement), tuple(parameters))
        return [cast(list[tuple[Any, ...]], cursor.fetchall()) for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def driver_sql(conn: sa.Connection, statement: str) -> str:
    """``statement``, written with ``?`` placeholders, in the driver's own parameter style.

    pysqlite takes ``?`` (qmark); psycopg takes ``%s`` (format), so each ``?`` becomes ``%s``.
    The statements passed here are the module's own, with no ``?`` or ``%`` in literals.
    """
    return statement if conn.dialect.paramstyle == "qmark" else statement.replace("?", "%s")


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # durability: fsync the WAL on every commit
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA cache_size=-32768")  # KiB: 32 MiB
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # A writer (execution option sqlite_begin="IMMEDIATE") takes the write lock at BEGIN, so
    # two writers can never both read the same head; readers stay deferred and, under WAL,
    # never wait for a writer.
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode != _EACH_STATEMENT:
        connection.exec_driver_sql(f"BEGIN {mode}")


_EACH_STATEMENT = "NONE"
"""``sqlite_begin`` for :func:`statement_snapshots`: no BEGIN, so SQLite commits each statement."""


def statement_snapshots(conn: sa.Connection) -> sa.Connection:
    """``conn`` with each statement in a transaction of its own, for reads that need no
    snapshot across statements.

    A read of one query then costs no BEGIN and ROLLBACK: on PostgreSQL two round trips
    (holdings: 719 → 512 µs in process), on SQLite a tenth of a holdings answer. PostgreSQL's
    default isolation (read committed) already gives each statement its own snapshot.
    """
    if is_sqlite(conn.engine):
        return conn.execution_options(sqlite_begin=_EACH_STATEMENT)
    return conn.execution_options(isolation_level="AUTOCOMMIT")
