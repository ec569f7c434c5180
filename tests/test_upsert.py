"""One insert-or-update by key for the state database and the endpoints."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

from optsync.upsert import update_or_insert

META = MetaData()
MARKS = Table("marks", META, Column("owner", Integer, primary_key=True),
              Column("entity", String(20), primary_key=True), Column("value", String(20)),
              Column("note", String(20)))


@pytest.fixture
def conn():
    engine = create_engine("sqlite://")
    META.create_all(engine)
    with engine.begin() as connection:
        yield connection


def rows(conn):
    return [tuple(r) for r in conn.execute(select(MARKS).order_by(MARKS.c.owner, MARKS.c.entity))]


def test_a_new_key_is_inserted_and_a_known_one_updated(conn):
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 1, "entity": "stock",
                                                        "value": "a", "note": "n"})
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 1, "entity": "stock",
                                                        "value": "b", "note": "n"})
    assert rows(conn) == [(1, "stock", "b", "n")]


def test_columns_a_row_does_not_name_keep_what_they_hold(conn):
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 1, "entity": "stock",
                                                        "value": "a", "note": "kept"})
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 1, "entity": "stock",
                                                        "value": "b"})
    assert rows(conn) == [(1, "stock", "b", "kept")]


def test_many_rows_in_one_call_and_a_row_of_only_its_key(conn):
    update_or_insert(conn, MARKS, ("owner", "entity"), [
        {"owner": 1, "entity": "stock", "value": "a", "note": None},
        {"owner": 2, "entity": "stock", "value": "c", "note": None},
        {"owner": 1, "entity": "stock", "value": "z", "note": None},
    ])
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 2, "entity": "stock"})
    update_or_insert(conn, MARKS, ("owner", "entity"), {"owner": 3, "entity": "prices"})
    assert rows(conn) == [(1, "stock", "z", None), (2, "stock", "c", None),
                          (3, "prices", None, None)]

