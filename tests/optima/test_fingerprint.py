"""Fingerprint queries compile for SQL Server and change with every exported column."""

from __future__ import annotations

from sqlalchemy.dialects import mssql

from optsync.optima.fingerprint import QUERIES
from optsync.optima.tables import optima_tables


def test_fingerprint_queries_compile_for_sql_server():
    t = optima_tables("CDN", implicit_returning=False)
    for build in QUERIES.values():
        for query in build(t):
            sql = str(query.compile(dialect=mssql.dialect()))
            assert "[CDN]." in sql
