"""Hashes staged during a step and moved once the endpoint committed, in every way they are
staged: SQLite one JSON object a batch, SQLite row by row (an SQLite without JSON), PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pg_databases import pg_databases
from sqlalchemy import select

from optsync.state import syncstate
from optsync.state import tables as t
from optsync.state.db import State

KEYS = ["P-1", "zażółć gęślą jaźń", 'quote " and \\ backslash', "line\nbreak", "emoji 😀",
        "two\x1fparts", "{json}: [1, 2]", "'", "", "back\\u0000slash"]
NUL_KEYS = ["A\x00B", "A\x00C"]  # not on PostgreSQL, whose text cannot hold NUL
MARK = syncstate.Mark(datetime(2026, 12, 2, 1, 0), "digest")


@pytest.fixture(params=["sqlite-json", "sqlite-rows", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[State]:
    if request.param == "postgresql":
        with pg_databases("optsync_staging") as make:
            monkeypatch.setenv("OPTSYNC_STATE_URL", make("state"))
            state = State(tmp_path / "home")
            yield state
            state.dispose()
        return
    monkeypatch.setattr(syncstate, "JSON_STAGING", request.param == "sqlite-json")
    state = State(tmp_path / "home")
    yield state
    state.dispose()


def stored(state: State, entity: str = "products") -> dict[str, int]:
    h = t.export_hashes.c
    with state.engine.connect() as conn:
        return dict(conn.execute(select(h.key, h.hash).where(h.integration_id == 1,
                                                                h.entity == entity)).all())


def test_staged_hashes_are_moved_exactly_the_last_of_a_key_winning(state: State, request):
    kind = request.node.callspec.params["state"]
    with syncstate.Pending(state, 1, "products") as pending:
        assert pending.dialect == kind.replace("-rows", "")
        first = [(k, i) for i, k in enumerate(KEYS)]
        pending.add(first + [("P-1", 2**63 - 1)])  # the last of a key in one batch wins
        pending.add([])
        pending.add([("zażółć gęślą jaźń", -5), ("new", 0)])  # a later batch wins too
        assert stored(state) == {}  # nothing counts before the endpoint committed
        assert pending.keys_after_save() == len(KEYS) + 1
        pending.save([], MARK)
    expected = dict(first) | {"P-1": 2**63 - 1, "zażółć gęślą jaźń": -5, "new": 0}
    assert stored(state) == expected

    nul = kind != "postgresql"
    with syncstate.Pending(state, 1, "products") as pending:  # a pass after it
        pending.add([("new", 7), ("newer", 8)])
        if nul:
            pending.add([(key, 9) for key in NUL_KEYS] + [("newer", 10)])
        assert pending.keys_after_save() == len(KEYS) + 2 + 2 * nul
        pending.save(["P-1"], MARK)
    assert stored(state) == {k: v for k, v in expected.items() if k != "P-1"} | {
        "new": 7, "newer": 10 if nul else 8} | ({key: 9 for key in NUL_KEYS} if nul else {})


def test_an_sqlite_without_json_functions_stages_row_by_row(tmp_path: Path):
    class NoJson:
        rolled_back = False

        def exec_driver_sql(self, sql: str) -> None:
            raise RuntimeError("no such table: json_each")

        def rollback(self) -> None:
            self.rolled_back = True

    conn = NoJson()
    assert syncstate._has_json(conn) is False and conn.rolled_back
    state = State(tmp_path / "home")
    with state.engine.connect() as real:
        assert syncstate._has_json(real) is True and not real.in_transaction()
    state.dispose()


def test_hashes_staged_by_a_pass_that_never_saved_are_forgotten(state: State):
    with syncstate.Pending(state, 1, "prices") as pending:
        pending.add([("A", 1)])
    with syncstate.Pending(state, 1, "prices") as pending:
        assert pending.keys_after_save() == 0
        pending.add([("B", 2)])
        pending.save([], MARK)
    assert stored(state, "prices") == {"B": 2}
