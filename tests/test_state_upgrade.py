"""The state database's schema is versioned and upgraded in place, losing nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from optsync.errors import ConfigError
from optsync.state import db as statedb
from optsync.state import tables as t
from optsync.state.db import SCHEMA_VERSION, State, make_engine, schema_version, upgrade, utcnow


def test_an_old_state_database_is_upgraded_in_place(home):
    home.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{home / 'state.db'}")
    assert upgrade(engine, target=1) == 1
    with engine.begin() as conn:  # version 1 as it was released: runs had no "complete"
        conn.exec_driver_sql("ALTER TABLE optsync_runs DROP COLUMN complete")
    with engine.begin() as conn:
        conn.execute(t.companies.insert().values(
            name="Stara Firma", db_url="sqlite:///stara.db", description="z wersji 1",
            source="manual", created_at=utcnow()))
        conn.execute(t.logs.insert().values(
            ts=utcnow(), level="info", category="config", message="old record"))
    assert not inspect(engine).has_table("optsync_locks")
    engine.dispose()

    state = State(home)
    with state.engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        assert conn.execute(select(t.companies.c.description)).scalar_one() == "z wersji 1"
        assert conn.execute(select(t.logs.c.message)).scalar_one() == "old record"
    assert inspect(state.engine).has_table("optsync_locks")
    assert inspect(state.engine).has_table("optsync_installs")
    columns = {c["name"] for c in inspect(state.engine).get_columns("optsync_runs")}
    assert "complete" in columns  # added by version 3 with ALTER TABLE
    install_id = state.install_id()
    state.dispose()
    assert State(home).install_id() == install_id  # upgrading twice changes nothing


def test_a_newer_state_database_is_refused(home, monkeypatch):
    state = State(home)
    state.install_id()
    state.dispose()
    monkeypatch.setattr(statedb, "MIGRATIONS", statedb.MIGRATIONS[:1])
    monkeypatch.setattr(statedb, "SCHEMA_VERSION", 1)  # this optsync knows version 1 only
    with pytest.raises(ConfigError, match="newer than this optsync"):
        _ = State(home).engine


def test_hashes_of_version_3_move_to_the_new_table_as_recognizable_old_values(home):
    home.mkdir(parents=True)
    engine = make_engine(f"sqlite:///{home / 'state.db'}")
    assert upgrade(engine, target=3) == 3
    old = "0123456789abcdef" * 2
    with engine.begin() as conn:
        conn.execute(t.sync_hashes.insert(), [
            {"integration_id": 1, "entity": "products", "key": f"P{i:03d}", "hash": old}
            for i in range(7000)])  # more than one page of the copy
        conn.execute(t.sync_marks.insert().values(
            integration_id=1, entity="products", watermark=utcnow().replace(tzinfo=None),
            digest=None, updated_at=utcnow()))
    engine.dispose()

    state = State(home)
    with state.engine.connect() as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        rows = conn.execute(select(t.export_hashes.c.key, t.export_hashes.c.hash)).all()
        mark = conn.execute(select(t.sync_marks.c.watermark, t.sync_marks.c.started_utc)).one()
    assert len(rows) == 7000
    assert {h for _, h in rows} == {statedb.legacy_hash(old)}
    assert statedb.legacy_hash(old) < 0  # never equal to a current hash
    assert mark.watermark is not None and mark.started_utc is None  # read as an old mark
    assert not inspect(state.engine).has_table("optsync_sync_hashes")
