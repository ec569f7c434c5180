"""Optima databases for the adapter tests: a SQLite file and, where a server answers, PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_databases import pg_databases
from sqlalchemy import Engine, create_engine, text

from optsync.demo import sample
from optsync.optima.tables import OptimaTables, tables_for


@pytest.fixture(scope="session")
def pg_maker() -> Iterator[Callable[..., str]]:
    """Databases of this session on the test server, dropped at the end."""
    with pg_databases("optsync_test_optima") as make:
        yield make


@pytest.fixture(scope="session")
def pg_database(pg_maker: Callable[..., str]) -> str:
    """A database of its own on the test server (per session)."""
    return pg_maker("adapter")


@pytest.fixture(scope="session")
def pg_sample(pg_maker: Callable[..., str]) -> str:
    """The sample company database, built once a session: each test gets a copy."""
    url = pg_maker("sample")
    sample.create_company_db(url)
    return url


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
def company(request: pytest.FixtureRequest, db_url: str) -> Iterator[Engine]:
    """An engine on a sample company database (40 products, 15 customers, 5 documents).

    On PostgreSQL the test's database is made again as a copy of the session's sample (a
    third of the time of building it)."""
    if db_url.startswith("postgresql"):
        db_url = request.getfixturevalue("pg_maker")("adapter", request.getfixturevalue("pg_sample"))
    else:
        sample.create_company_db(db_url)
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def t(company: Engine) -> OptimaTables:
    return tables_for(company)
