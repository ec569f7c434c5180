"""Fixtures of the endpoint tests: SQLite files, and a PostgreSQL database of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pg_databases import pg_databases
from sqlalchemy import create_engine

from optsync.endpoints.tables import METADATA


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a PostgreSQL database created for this test session and dropped after it."""
    with pg_databases("optsync_test_endpoints") as make:
        yield make("shop")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def sql_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A fresh sql endpoint URL: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shop.db"
    url: str = request.getfixturevalue("pg_database")
    engine = create_engine(url)
    METADATA.drop_all(engine)
    engine.dispose()
    return url
