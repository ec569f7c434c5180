"""The plan a pass leaves for the quiet check of the next (:mod:`optsync.sync.quiet`).

A :class:`Recorder` follows a pass through the engine: it takes the digest of the
configuration when the pass begins, the Optima operator check's rows before the check,
each endpoint's tables once the pass has brought them up to date; and, when the pass ended
``ok``, compiles for SQLite the queries whose answers tell whether the next pass has anything
to do (the engine's own statements: the watermarked reads counted, the deleted-key counts,
the fingerprints, the inbox, the mark) and stores them as the company's plan. Every pass
first forgets the company's plans, so a plan is always the last pass's.

Only passes whose databases are all SQLite files leave a plan; a recorder that meets anything
else, or any error, simply leaves none (the next pass then runs in full).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from optsync.entities import ENTITIES
from optsync.optima import reader
from optsync.optima.choices import price_lists_query, warehouses_query
from optsync.optima.digest import rows_digest
from optsync.optima.fingerprint import NEWEST
from optsync.optima.fingerprint import QUERIES as FINGERPRINTS
from optsync.optima.operator import companies_query, operator_query
from optsync.optima.reader import driver_statement
from optsync.optima.tables import tables_for
from optsync.state import syncstate
from optsync.state import tables as t
from optsync.state.db import State
from optsync.sync import quiet
from optsync.sync.export import watermarked_query
from optsync.sync.options import PassOptions
from optsync.upsert import update_or_insert

log = logging.getLogger(__name__)

_SINCE = datetime(1901, 2, 3, 4, 5, 6, 789012)  # stands for the read's start when compiling


class _NotQuiet(Exception):
    """The pass cannot leave a plan (not SQLite files, not compilable as plain values)."""


def forget(state: State, company_id: int) -> None:
    """Drop the company's plans: the pass now starting leaves the next one, if any."""
    meta = t.meta
    with state.engine.begin() as conn:
        conn.execute(delete(meta).where(meta.c.key.startswith(quiet.plan_prefix(company_id),
                                                              autoescape=True)))


def _sqlite_file(engine: Engine) -> str:
    url = engine.url
    if engine.dialect.name != "sqlite" or not url.database or not os.path.isabs(url.database):
        raise _NotQuiet(f"not an SQLite file: {url.render_as_string()}")
    return url.database


def _query(stmt: Any, dialect: Any, **slots: Any) -> dict[str, Any]:
    """A statement as the quiet check runs it: SQL, plain parameters, and where each slot's
    value goes (``slots``: the stand-in each was compiled with, as the driver must get it,
    which is how the check binds the real value)."""
    sql, args = driver_statement(stmt, dialect)
    if not isinstance(args, tuple):
        raise _NotQuiet("not positional")
    places: dict[str, list[int]] = {}
    for name, bound in slots.items():
        places[name] = [i for i, arg in enumerate(args) if arg == bound]
        if not places[name]:
            raise _NotQuiet(f"{name} not bound as expected")
    odd = [a for a in args if a is not None and type(a) not in (int, str, float)]
    if odd:
        raise _NotQuiet(f"a parameter is not a plain value: {type(odd[0]).__name__}")
    return {"sql": sql, "args": list(args), "slots": places}


def _rows(conn: Connection, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(args))]


class Recorder:
    """Takes a pass's readings for the plan it leaves; see the module doc."""

    def __init__(self, state: State, company_id: int, opts: PassOptions) -> None:
        self.state, self.company_id, self.opts = state, company_id, opts
        self.active = not (opts.dry_run or opts.full)
        self.config: str | None = None
        self.operator: dict[str, Any] | None = None
        self.optima: Engine | None = None
        self.settings: dict[str, Any] | None = None
        self.secret: str | None = None
        self.integrations: dict[int, dict[str, Any]] = {}
        if self.active:
            self._try(self._config)

    def discard(self, why: str) -> None:
        """This pass leaves no plan."""
        log.debug("no quiet plan: %s", why)
        self.active = False

    def _try(self, take, *args: Any) -> None:
        if not self.active:
            return
        try:
            take(*args)
        except Exception as exc:  # noqa: BLE001 - the pass goes on; it only leaves no plan
            self.discard(str(exc))

    def _config(self) -> None:
        if self.state.engine.dialect.name != "sqlite":
            raise _NotQuiet("the state database is not SQLite")
        with self.state.engine.connect() as conn:
            self.config = quiet.config_digest(lambda sql, args: _rows(conn, sql, args),
                                              self.company_id)
        self.secret = quiet.secret_stamp(self.state.home)

    def operator_checked(self, conn: Connection | None, acronym: str) -> None:
        """Before the operator check: the rows it reads (None: no configuration database)."""
        self._try(self._operator, conn, acronym)

    def _operator(self, conn: Connection | None, acronym: str) -> None:
        if conn is None:
            return
        tables = tables_for(conn)
        bans = tables.BazZakazy.c  # every ban: the check reads the one of this operator
        queries = [_query(q, conn.dialect)
                   for q in (operator_query(tables, acronym), companies_query(tables),
                             select(bans.BZa_OpeID, bans.BZa_BazID).order_by(bans.BZa_BZaID))]
        path = _sqlite_file(conn.engine)
        digest = rows_digest(_rows(conn, q["sql"], q["args"]) for q in queries)
        self.operator = {"db": path, "queries": queries, "digest": digest}

    def optima_opened(self, engine: Engine, tables: Any) -> None:
        """Before any step: the rows the checks of price lists and warehouses read."""
        self._try(self._optima, engine, tables)

    def _optima(self, engine: Engine, tables: Any) -> None:
        _sqlite_file(engine)
        self.optima, self.tables = engine, tables
        queries = _compiled(("settings", tables), engine.dialect, _settings_queries, tables)
        with engine.connect() as conn:
            digest = rows_digest(_rows(conn, q["sql"], q["args"]) for q in queries)
        self.settings = {"queries": queries, "digest": digest}

    def endpoint_ready(self, integ: Any, endpoint: Any, planned: list[tuple[str, str]]) -> None:
        """After the endpoint's tables were brought up to date, before any step."""
        self._try(self._endpoint, integ, endpoint, planned)

    def _endpoint(self, integ: Any, endpoint: Any, planned: list[tuple[str, str]]) -> None:
        if type(endpoint).__module__ != "optsync.endpoints.sql":
            raise _NotQuiet(f"endpoint kind {endpoint.kind}")
        engine = endpoint.engine
        self.integrations[integ.id] = {
            "id": integ.id, "name": integ.name, "endpoint": _sqlite_file(engine),
            "schema": self._schema(engine), "steps": [list(step) for step in planned],
            "engine": engine,
        }

    @staticmethod
    def _schema(engine: Engine) -> str:
        with engine.connect() as conn:
            return rows_digest([_rows(conn, quiet.SCHEMA_SQL)])

    def endpoint_marked(self, integ: Any) -> None:
        """The pass marked the endpoint: its tables must still be as they were made ready."""
        self._try(self._marked, integ)

    def _marked(self, integ: Any) -> None:
        entry = self.integrations[integ.id]
        if self._schema(entry["engine"]) != entry["schema"]:
            raise _NotQuiet("the endpoint's tables changed during the pass")
        entry["marked"] = True

    def save(self, status: str) -> None:
        """Store the plan when the pass ended ``ok``; never raises."""
        if status != "ok":
            return
        self._try(self._save)

    def _save(self) -> None:
        if self.optima is None or not self.integrations:
            raise _NotQuiet("nothing to plan")
        optima = self.optima.dialect
        state = self.state.engine.dialect
        integrations = []
        for entry in sorted(self.integrations.values(), key=lambda e: e["name"]):
            if not entry.get("marked"):
                raise _NotQuiet(f"integration {entry['name']} not marked")
            integrations.append(self._integration(entry, optima, state))
        plan = {"format": quiet.FORMAT, "narrowing": quiet.narrowing(self.opts),
                "code": quiet.code_stamp(), "secret": self.secret,
                "config": self.config, "operator": self.operator,
                "optima": _sqlite_file(self.optima), "settings": self.settings,
                "integrations": integrations}
        key = quiet.plan_key(self.company_id, self.opts)
        with self.state.engine.begin() as conn:
            update_or_insert(conn, t.meta, ("key",), {"key": key, "value": json.dumps(plan)})

    def _integration(self, entry: dict[str, Any], optima: Any, state: Any) -> dict[str, Any]:
        endpoint = entry["engine"].dialect
        exports: dict[str, Any] = {}
        imports: dict[str, Any] = {}
        for direction, entity in entry["steps"]:
            if direction == "import":
                imports[entity] = _compiled(("inbox", entity), endpoint, _inbox_query, entity)
                continue
            exports[entity] = dict(_compiled(("export", self.tables, entity), optima,
                                             _export_queries, self.tables, entity))
            if ENTITIES[entity].deletes_counted:
                exports[entity]["held"] = _query(
                    syncstate.count_keys_query(entry["id"], entity), state)
        return {
            "id": entry["id"], "name": entry["name"], "endpoint": entry["endpoint"],
            "schema": entry["schema"], "steps": entry["steps"],
            "mark": _compiled(("mark",), endpoint, _mark_query),
            "exports": exports, "imports": imports,
        }


_COMPILED: dict[tuple, Any] = {}  # compiled once per process: the same for the same dialect


def _compiled(key: tuple, dialect: Any, build: Any, *args: Any) -> Any:
    """``build(*args, dialect)``, kept for each ``key`` and kind and version of database."""
    full = (*key, dialect.name, dialect.server_version_info, dialect.paramstyle)
    if full not in _COMPILED:
        _COMPILED[full] = build(*args, dialect)
    return _COMPILED[full]


def _settings_queries(tables: Any, dialect: Any) -> list[dict[str, Any]]:
    """What the checks of an integration's price list and warehouse read."""
    return [_query(price_lists_query(tables), dialect), _query(warehouses_query(tables), dialect)]


def _inbox_query(entity: str, dialect: Any) -> dict[str, Any]:
    """Whether a row of ``entity`` waits in the endpoint's inbox: the row the engine would
    import first."""
    # start-up time: the sql endpoint loads only for a pass that has one
    from optsync.endpoints.sql import waiting_query

    stmt = waiting_query(entity)
    return _query(stmt.with_only_columns(stmt.selected_columns.id).limit(1), dialect)


def _mark_query(dialect: Any) -> dict[str, Any]:
    """optsync's marks in the endpoint, as ``read_marks`` reads them: every row's identity,
    last run and time."""
    # start-up time: the sql endpoint's tables load only for a pass that has one
    from optsync.endpoints.tables import MARK_TABLE, METADATA

    mark = METADATA.tables[MARK_TABLE]
    return _query(select(mark.c.identity, mark.c.last_run, mark.c.updated_at), dialect)


def _export_queries(tables: Any, entity: str, dialect: Any) -> dict[str, Any]:
    """What tells whether an export step reads anything: its fingerprint; or its read from
    the watermark, counted, and the count of keys Optima holds."""
    if entity in FINGERPRINTS:
        return {"fingerprint": [_query(q, dialect) for q in FINGERPRINTS[entity](tables,
                                                                                 dialect.name)]}
    if not ENTITIES[entity].watermarked:
        raise _NotQuiet(f"no quiet check of {entity}")
    found: dict[str, Any]
    if entity in NEWEST:  # the newest stamp, from an aggregate the fingerprints ask anyway
        aggregate, column = NEWEST[entity]
        found = {"newest": _query(aggregate(tables), dialect), "column": column}
    else:
        changed = select(func.count()).select_from(
            watermarked_query(tables, entity, _SINCE).subquery())
        found = {"changed": _query(changed, dialect,
                                   **{quiet.SINCE: quiet.stored_time(_SINCE)})}
    if ENTITIES[entity].deletes_counted:
        found["count"] = _query(reader.count_query(tables, entity), dialect)
    return found
