"""Finding endpoints (built-ins and entry-point plugins), masking URLs, and the SQL Server statements."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy.dialects import mssql
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc
from sqlalchemy.schema import CreateTable

import optsync.endpoints as loader
from optsync.endpoints import endpoint_kind, load_endpoint
from optsync.endpoints.base import Endpoint, mask_url
from optsync.endpoints.folder import FolderEndpoint
from optsync.endpoints.sql import SqlEndpoint, sqlalchemy_url
from optsync.endpoints.tables import METADATA, outbound_table_name
from optsync.entities import ENTITIES, EXPORTED
from optsync.errors import BadInput
from optsync.upsert import Prepared, upsert_statement


@pytest.fixture(autouse=True)
def fresh_loader() -> Iterator[None]:
    loader.endpoint_classes.cache_clear()
    loader._plugins.cache_clear()
    yield
    loader.endpoint_classes.cache_clear()
    loader._plugins.cache_clear()


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("sqlite:///shop.db", "sql"),
        ("postgresql+psycopg://shop:pw@db.example/shop", "sql"),
        ("mssql+pyodbc://u:p@srv/Sklep?driver=ODBC+Driver+18+for+SQL+Server", "sql"),
        ("odbc:DRIVER={ODBC Driver 18 for SQL Server};SERVER=srv;DATABASE=Sklep", "sql"),
        ("/srv/detal", "folder"),
        ("relative/folder", "folder"),
        (r"C:\Detal\wymiana", "folder"),
        ("file:///srv/detal", "folder"),
        ("FILE:///srv/detal", "folder"),
    ],
)
def test_targets_map_to_kinds(target: str, kind: str) -> None:
    assert endpoint_kind(target) == kind
    assert load_endpoint(target).kind == kind


def test_load_endpoint_builds_but_does_not_connect() -> None:
    endpoint = load_endpoint("postgresql+psycopg://shop:pw@127.0.0.1:1/nowhere")
    assert isinstance(endpoint, SqlEndpoint)
    assert repr(endpoint) == "SqlEndpoint('postgresql+psycopg://shop:***@127.0.0.1:1/nowhere')"
    assert isinstance(load_endpoint("/nonexistent/folder"), FolderEndpoint)


def test_an_empty_target_is_bad_input() -> None:
    with pytest.raises(BadInput):
        load_endpoint("  ")


class ShopApi(Endpoint):
    """A plugin claiming https URLs, which the sql endpoint would otherwise take."""

    kind: ClassVar[str] = "shopapi"

    @classmethod
    def accepts(cls, target: str) -> bool:
        return target.startswith("https://")

    def check(self) -> None: ...
    def _export(self, entity: str, run_id: int) -> Any: ...
    def _inbox(self, entity: str) -> Any: ...
    def _mark(self, *args: Any) -> None: ...
    def finish_inbox(self, entity: str) -> None: ...


def test_plugins_from_entry_points_are_asked_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_entry_points(group: str) -> list[metadata.EntryPoint]:
        assert group == "optsync.endpoints"
        return [
            metadata.EntryPoint("sql", "optsync.endpoints.sql:SqlEndpoint", group),
            metadata.EntryPoint("shopapi", f"{__name__}:ShopApi", group),
            metadata.EntryPoint("broken", "no_such_module:Nothing", group),
        ]

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    assert list(loader.endpoint_classes()) == ["shopapi", "sql", "folder"]
    assert isinstance(load_endpoint("https://shop.example/api"), ShopApi)
    assert endpoint_kind("postgresql://h/db") == "sql"
    assert endpoint_kind("/srv/x") == "folder"


def test_only_the_built_in_that_takes_the_target_is_imported():
    code = ("import sys; from optsync.endpoints import load_endpoint; "
            "load_endpoint(sys.argv[1]); print(sorted(m for m in sys.modules "
            "if m in ('optsync.endpoints.sql', 'optsync.endpoints.folder')))")
    loaded = {target: subprocess.run([sys.executable, "-c", code, target], capture_output=True,
                                     text=True, check=True).stdout.strip()
              for target in ("sqlite:///shop.db", "/srv/detal")}
    assert loaded == {"sqlite:///shop.db": "['optsync.endpoints.sql']",
                      "/srv/detal": "['optsync.endpoints.folder']"}


def test_without_entry_points_the_built_ins_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", lambda group: [])
    assert list(loader.endpoint_classes()) == ["sql", "folder"]


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://shop:s3cret@db:5432/shop",
            "postgresql+psycopg://shop:***@db:5432/shop",
        ),
        ("mssql+pyodbc://sa:p%40ss@srv/Sklep?driver=X", "mssql+pyodbc://sa:***@srv/Sklep?driver=X"),
        ("postgresql://shop@db/shop", "postgresql://shop@db/shop"),
        ("sqlite:///C:/shop.db", "sqlite:///C:/shop.db"),
        ("odbc:DRIVER={X};SERVER=s;UID=sa;PWD=s3cret;", "odbc:DRIVER={X};SERVER=s;UID=sa;PWD=***;"),
        (
            "mssql+pyodbc:///?odbc_connect=UID%3Dsa%3BPWD%3Ds3cret%3B",
            "mssql+pyodbc:///?odbc_connect=UID%3Dsa%3BPWD%3D***%3B",
        ),
        ("postgresql://db/shop?user=a&password=s3cret", "postgresql://db/shop?user=a&password=***"),
    ],
)
def test_mask_url_hides_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_odbc_strings_become_mssql_pyodbc_urls() -> None:
    assert sqlalchemy_url("odbc:DRIVER={ODBC Driver 18 for SQL Server};SERVER=s") == (
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Ds"
    )


@pytest.mark.parametrize("entity", EXPORTED)
def test_the_upsert_compiles_to_a_merge_for_sql_server(entity: str) -> None:
    table = METADATA.tables[outbound_table_name(entity)]
    stmt = upsert_statement(table, ENTITIES[entity].key, "mssql")
    compiled = stmt.compile(dialect=mssql_pyodbc.dialect(paramstyle="qmark"))  # type: ignore[union-attr]
    sql = str(compiled)
    assert sql.startswith(f"MERGE INTO {table.name} WITH (HOLDLOCK) AS t USING (SELECT CAST(? AS ")
    assert sql.count("?") == len(table.columns)
    assert compiled.positiontup == [c.name for c in table.columns]
    assert "WHEN NOT MATCHED THEN INSERT" in sql and sql.endswith(";")
    for key in ENTITIES[entity].key:
        assert f"t.{key} = s.{key}" in sql


def test_every_exchange_table_compiles_for_sql_server() -> None:
    for table in METADATA.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=mssql.dialect()))
        assert "IDENTITY" not in ddl or table.name.startswith("optsync_inbox_")


def test_the_sql_server_upsert_is_prepared_once_for_pyodbc_executemany() -> None:
    table = METADATA.tables["optsync_prices"]
    stmt = upsert_statement(table, ENTITIES["prices"].key, "mssql")
    assert stmt is not None
    prepared = Prepared.build(stmt, table, mssql_pyodbc.dialect(paramstyle="qmark"))
    assert prepared is not None and prepared.names == [c.name for c in table.columns]
    assert prepared.sql.startswith("MERGE INTO optsync_prices")


def test_no_driver_or_sqlalchemy_is_imported_until_an_endpoint_is_used() -> None:
    code = (
        "import sys, optsync.endpoints, optsync.endpoints.base, optsync.endpoints.folder;"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy';"
        "import optsync.endpoints.sql;"
        "assert 'pyodbc' not in sys.modules, 'pyodbc'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
