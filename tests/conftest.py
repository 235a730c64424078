"""Shared fixtures: the shared data folder and a log database on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ledger.database import create_engine

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("REGISTRY_SHARED_DATA", ROOT.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get("REGISTRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_available() -> str | None:
    """Return why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "not available"
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"
    return None


_PG_PROBLEM = _postgres_available()


def require_database(kind: str) -> None:
    """Skip the test if ``kind`` cannot be reached here; with CI=true, fail it instead."""
    if kind == "postgresql" and _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {_PG_PROBLEM}")
        pytest.skip(_PG_PROBLEM)


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh, empty database of ``kind``: (url, schema). PostgreSQL gets a schema of its own."""
    require_database(kind)
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'registry.db'}", None
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield POSTGRES_URL, schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _cli_url(url: str, schema: str | None) -> str:
    return url if schema is None else f"{url}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """A fresh, empty database for one test: (url, schema)."""
    with fresh_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_cli_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database shared by the tests of one module, as one URL (for read-only tests)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as (url, schema):
        yield _cli_url(url, schema)


@pytest.fixture
def engine(database_url: tuple[str, str | None]) -> Iterator[Engine]:
    url, schema = database_url
    eng = create_engine(url, schema=schema)
    yield eng
    eng.dispose()


@pytest.fixture
def database_cli_url(database_url: tuple[str, str | None]) -> str:
    """The fresh database as one URL (PostgreSQL's schema in the connection options)."""
    return _cli_url(*database_url)
