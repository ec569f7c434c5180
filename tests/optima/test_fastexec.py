"""SQL Server engines use pyodbc's fast executemany, with input sizes declared per batch."""

from __future__ import annotations

from decimal import Decimal

import pytest

from optsync import dburl
from optsync.fastexec import input_sizes

pyodbc = pytest.importorskip("pyodbc")
URL = "mssql+pyodbc://optsync@127.0.0.1:1/CDN_Firma?driver=FreeTDS"


def test_a_sql_server_engine_takes_the_fast_executemany_path():
    engine = dburl.engine_for(URL)
    assert engine.dialect.fast_executemany is True
    odbc = dburl.engine_for("odbc:DRIVER={FreeTDS};SERVER=127.0.0.1;DATABASE=CDN_Firma")
    assert odbc.dialect.fast_executemany is True


def test_other_engines_are_left_alone(tmp_path):
    engine = dburl.engine_for("postgresql+psycopg://u@127.0.0.1:1/x")
    assert not getattr(engine.dialect, "fast_executemany", False)


def test_every_batch_declares_text_and_decimal_sizes_before_it_is_sent():
    engine = dburl.engine_for(URL)

    class Cursor:
        declared = None

        def setinputsizes(self, sizes):
            self.declared = sizes

    cursor = Cursor()
    rows = [("P1", "krótki", Decimal("1.5"), 7), ("P22", "x" * 300, Decimal("12345.6789"), None)]
    engine.dispatch.before_cursor_execute(None, cursor, "MERGE ...", rows, None, True)
    assert cursor.declared == [
        (pyodbc.SQL_WVARCHAR, 3, 0),
        (pyodbc.SQL_WVARCHAR, 300, 0),  # the longest of the batch, not of its first row
        (pyodbc.SQL_DECIMAL, 9, 4),  # 5 whole digits and 4 places
        None,  # integers: pyodbc's own choice
    ]
    single = Cursor()
    engine.dispatch.before_cursor_execute(None, single, "SELECT ?", ("x",), None, False)
    assert single.declared is None  # a single execute goes through SQLAlchemy's own sizes


def test_a_text_longer_than_4000_characters_is_sent_as_nvarchar_max():
    sizes = input_sizes([("a",), ("ż" * 4001,)], -9, 3)
    assert sizes == [(-9, 0, 0)]
    assert input_sizes([{"a": 1}], -9, 3) is None  # named parameters: nothing to declare


def test_a_sql_server_endpoint_declares_input_sizes_too():
    from optsync.endpoints.sql import SqlEndpoint

    engine = SqlEndpoint(URL).engine
    assert engine.dialect.fast_executemany is True
    assert engine.dispatch.before_cursor_execute  # the sizes are declared before each batch
