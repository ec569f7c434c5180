"""Optima databases for the adapter tests: a SQLite file and, where a server answers, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from optsync.optima import sample
from optsync.optima.tables import OptimaTables, tables_for

PG_URL = os.environ.get("OPTSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of its own on the test server (per process), dropped at the end."""
    admin_url = make_url(PG_URL)
    name = f"optsync_test_optima_{os.getpid()}"
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"PostgreSQL at {admin_url!r} not reachable: {type(exc).__name__}: {exc}")
    yield admin_url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a SQLite file, or the PostgreSQL test database without schema CDN."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optima.db'}"
        return
    url = request.getfixturevalue("pg_database")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text('DROP SCHEMA IF EXISTS "CDN" CASCADE'))
    engine.dispose()
    yield url


@pytest.fixture
def company(db_url: str) -> Iterator[Engine]:
    """An engine on a sample company database (40 products, 15 customers, 5 documents)."""
    sample.create_company_db(db_url)
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def t(company: Engine) -> OptimaTables:
    return tables_for(company)
