"""Every statement the Optima adapter issues compiles for SQL Server against schema CDN.

The reader and writer run against SQLite databases attached as schema ``CDN`` (so the tables
built for ``CDN`` really execute), and every statement they issue is compiled with the
``mssql`` dialect on its way out.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateTable
from sqlalchemy.sql import ClauseElement, Insert

from optsync.demo import sample
from optsync.optima import columns, operator, reader
from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import optima_tables, tables_for
from optsync.optima.writer import OptimaWriter
from optsync.optima.writer.batch import savepoint_sql

CDN = optima_tables("CDN", implicit_returning=False)


def mssql_sql(statement: ClauseElement) -> str:
    return str(statement.compile(dialect=mssql.dialect()))


@pytest.fixture
def cdn_engine(tmp_path: Path):
    """An engine whose schema ``CDN`` is a sample company database, recording mssql SQL."""
    sample.create_company_db(f"sqlite:///{tmp_path / 'company.db'}")
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def attach(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.execute(f"ATTACH DATABASE '{tmp_path / 'company.db'}' AS CDN")

    compiled: list[str] = []

    @event.listens_for(engine, "before_execute")
    def record(conn: Any, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any) -> None:
        clause = clauseelement
        if isinstance(clause, Insert) and (multiparams or params):
            keys = list((multiparams[0] if multiparams else params).keys())
            compiled.append(str(clause.compile(dialect=mssql.dialect(), column_keys=keys)))
        elif isinstance(clause, ClauseElement):
            compiled.append(mssql_sql(clause))

    @event.listens_for(engine, "before_cursor_execute")
    def record_driver_sql(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                          executemany: bool) -> None:
        # Wide rows go to the driver as SQL compiled once: compile the same INSERT (its table
        # and columns) for SQL Server.
        if statement.startswith("SAVEPOINT "):  # a record's savepoint, as SQL Server has it
            compiled.extend(savepoint_sql("mssql", statement.split()[1])[0])
        if context.compiled is None and statement.startswith("INSERT INTO"):
            table, cols = re.match(r'INSERT INTO "?CDN"?\."?(\w+)"? \((.*?)\) VALUES', statement).groups()
            keys = [c.strip().strip('"') for c in cols.split(",")]
            compiled.append(str(getattr(CDN, table).insert().compile(dialect=mssql.dialect(), column_keys=keys)))

    yield SimpleNamespace(engine=engine, statements=compiled)
    engine.dispose()


def assert_cdn_qualified(statements: list[str]) -> None:
    assert statements
    for sql in statements:
        if sql.startswith(("SAVE TRANSACTION", "ROLLBACK TRANSACTION", "RELEASE SAVEPOINT")):
            continue  # per-record savepoints; the mssql dialect skips RELEASE when executing
        if " FROM " not in sql and not sql.startswith(("INSERT", "UPDATE", "DELETE")):
            continue  # the server clock, read without a table
        assert "[CDN]." in sql, sql
        bare = re.findall(
            r'(?<![.\w\]])"?(Towary|TraNag|TraElem|Kontrahenci|TwrCeny)"?\b(?!\])', sql
        )
        assert not [b for b in bare if f"[CDN].[{b}]" not in sql], sql


def test_reader_statements_compile_for_sql_server(cdn_engine, monkeypatch):
    t = optima_tables("CDN")
    original = reader.RawRows.__init__

    def record(self: Any, conn: Any, stmt: Any, *args: Any, **kwargs: Any) -> None:
        cdn_engine.statements.append(mssql_sql(stmt))  # read on the driver's cursor
        original(self, conn, stmt, *args, **kwargs)

    monkeypatch.setattr(reader.RawRows, "__init__", record)
    with cdn_engine.engine.connect() as conn:
        for fn in (
            reader.read_products,
            reader.read_prices,
            reader.read_stock,
            reader.read_customers,
            reader.read_documents,
        ):
            assert sum(len(b) for b in fn(conn, t)) > 0
    statements = cdn_engine.statements
    assert_cdn_qualified(statements)
    assert any("[CDN].[Towary]" in s for s in statements)
    assert any("[CDN].[TraElem]" in s for s in statements)
    assert any("TOP" in s for s in statements)  # keyset pages and the stock sub-select


def test_writer_statements_compile_for_sql_server(cdn_engine):
    t = optima_tables("CDN")
    writer = OptimaWriter(cdn_engine.engine, t, OperatorInfo(1, "ADMIN", "Admin"), namespace="n")
    lines = [{"product_code": "BANANY", "quantity": 1, "unit_price": 1}]
    results = (
        writer.import_orders(
            [
                {"external_id": "1", "customer_code": "HURTOWNIA SPOZYWCZA", "lines": lines},
                {
                    "external_id": "2",
                    "customer_name": "Nowy Klient",
                    "customer_tax_id": "1234563218",
                    "lines": lines,
                },
            ]
        )
        + writer.import_orders([{"external_id": "1", "customer_code": "X", "lines": lines}])
        + writer.import_receipts([{"external_id": "1", "lines": lines}])
        + writer.import_customers([{"external_id": "c", "name": "Klient", "tax_id": "9"}])
        + writer.import_products([{"code": "BANANY", "name": "B"}, {"code": "N", "name": "N"}])
        + writer.import_prices(
            [
                {"product_code": "N", "price_list": 1, "value": 1},
                {"product_code": "BANANY", "price_list": 1, "value": 2},
            ]
        )
    )
    assert {r.status for r in results} <= {"imported", "duplicate"}, results
    statements = cdn_engine.statements
    assert_cdn_qualified(statements)
    for table in ("TraNag", "TraElem", "Kontrahenci", "Towary", "TwrCeny", "DokDefinicje"):
        assert any(f"[CDN].[{table}]" in s for s in statements), table
    assert any("WITH (UPDLOCK, HOLDLOCK)" in s for s in statements)
    assert any(s.startswith("SAVE TRANSACTION") for s in statements)


def test_on_sql_server_ids_avoid_output():
    fake = SimpleNamespace(dialect=mssql.dialect())
    t = tables_for(fake)  # type: ignore[arg-type]
    assert t is CDN and t.TraNag.implicit_returning is False  # Optima's tables have triggers


def test_every_insert_names_every_not_null_column_and_no_computed_one(cdn_engine):
    t = optima_tables("CDN")
    writer = OptimaWriter(cdn_engine.engine, t, OperatorInfo(1, "ADMIN", "Admin"), namespace="n")
    lines = [{"product_code": "BANANY", "quantity": 1, "unit_price": 1}]
    writer.import_orders(
        [{"external_id": "9", "customer_name": "Nowy Klient", "customer_tax_id": "1234563218",
          "lines": lines}]
    )
    writer.import_receipts([{"external_id": "9", "lines": lines}])
    writer.import_customers([{"external_id": "k", "name": "Klient K"}])
    writer.import_products([{"code": "NOWY", "name": "Nowy"}])
    writer.import_prices([{"product_code": "NOWY", "price_list": 2, "value": 3}])
    inserts = [s for s in cdn_engine.statements if s.startswith("INSERT INTO [CDN].")]
    written = set()
    for sql in inserts:
        table = re.match(r"INSERT INTO \[CDN\]\.\[(\w+)\]", sql)[1]
        column_list = re.split(r"\) (?:OUTPUT|VALUES)", sql)[0]
        named = set(re.findall(r"\[(\w+)\]", column_list)) - {"CDN", table}
        specs = columns.table_columns(table)
        must = {c.name for c in specs if not c.nullable and not c.computed and not c.identity}
        assert must <= named, (table, sorted(must - named))
        assert not named & {c.name for c in specs if c.computed or c.identity}, table
        written.add(table)
    assert written == {"TraNag", "TraElem", "Kontrahenci", "Towary", "TwrCeny"}


def test_operator_statements_compile_for_sql_server():
    for stmt in (
        operator.operator_query(CDN, "ADMIN"),
        operator.companies_query(CDN),
        operator.ban_query(CDN, 1, 2),
    ):
        sql = mssql_sql(stmt)
        assert re.search(r"\[CDN\]\.\[(Operatorzy|Bazy|BazZakazy)\]", sql), sql


def test_stock_query_for_sql_server_uses_top_1_without_nulls_last():
    stmt = reader.stock_query(CDN, "MAG", dialect_name="mssql")
    sql = str(stmt.compile(dialect=mssql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "TOP 1" in sql and "NULLS" not in sql and "[CDN].[TwrIlosci]" in sql


def test_every_table_has_ddl_for_sql_server():
    for table in CDN.config_tables() + CDN.company_tables():
        assert f"CREATE TABLE [CDN].[{table.name}]" in mssql_sql(CreateTable(table))
