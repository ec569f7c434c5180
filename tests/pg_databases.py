"""PostgreSQL databases of a test's own on the test server, or a skip saying why there is none.

A plain module, imported by name from every folder's tests (not a conftest, whose names
collide between folders).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

PG_URL = os.environ.get(
    "OPTSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def pg_databases(prefix: str) -> Iterator[Callable[..., str]]:
    """Yield ``make(label[, template]) -> URL`` creating ``<prefix>_<uuid>_<label>``; all
    dropped after."""
    server = make_url(PG_URL)
    try:
        admin = create_engine(server, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"no PostgreSQL answers at {server.render_as_string()} "
                    f"(set OPTSYNC_TEST_PG_URL): {type(exc).__name__}")
    run = uuid.uuid4().hex[:10]
    created: list[str] = []

    def make(label: str, template: str | None = None) -> str:
        """A new database (a copy of the database ``template`` names, by URL); its URL.
        Made again under the same name when it exists: a fresh copy for each test."""
        name = f"{prefix}_{run}_{label}"
        copy = "" if template is None else f' TEMPLATE "{make_url(template).database}"'
        with admin.connect() as conn:
            if name in created:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
        if name not in created:
            created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
