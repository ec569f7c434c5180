"""Per (integration, entity) export state: a mark (settled watermark, digest) and a hash per key.

What the endpoint holds is remembered only after the endpoint committed. The hashes a pass
computes are written once, into a temporary table of the state database's connection (no
lock on the shared tables while the pass reads Optima), and moved into ``export_hashes`` by
one statement after the endpoint committed; the temporary table goes with the connection,
so a pass that dies leaves nothing behind. Everything is read and written in chunks, so
memory follows the chunk size, not the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select

from optsync.state import tables as t
from optsync.state.db import State, utcnow
from optsync.upsert import update_or_insert

CHUNK = 5000
TABLE = "optsync_export_hashes"
PENDING = "optsync_pending"

# The staging table is a plain heap (appending is cheapest); a key staged twice in one pass
# keeps its last hash when moved. On SQLite with its JSON functions (3.38 on, or built with
# them) a batch is one row, its pairs one JSON object: one insert instead of thousands; a
# batch with a key holding NUL (which json_each would cut short) goes row by row beside them.
_PENDING_DDL = {
    "sqlite": f"CREATE TEMP TABLE IF NOT EXISTS {PENDING} (key VARCHAR(400), hash BIGINT)",
    "sqlite-json": f"CREATE TEMP TABLE IF NOT EXISTS {PENDING} "
                   "(doc TEXT, key VARCHAR(400), hash BIGINT)",
    "postgresql": f"CREATE TEMP TABLE IF NOT EXISTS {PENDING} "
                  "(seq BIGSERIAL, key VARCHAR(400), hash BIGINT)",
    "mssql": f"IF OBJECT_ID('tempdb..#{PENDING}') IS NULL CREATE TABLE #{PENDING} "
             "(\"key\" NVARCHAR(400) PRIMARY KEY, hash BIGINT NOT NULL)",
}
_STAGE = {
    "sqlite": f"INSERT INTO temp.{PENDING} (key, hash) VALUES (?, ?)",
    "sqlite-json": f"INSERT INTO temp.{PENDING} (doc) VALUES (?)",
    "postgresql": f"INSERT INTO {PENDING} (key, hash) VALUES (%s, %s)",
    "mssql": f"MERGE #{PENDING} AS p USING (SELECT ? AS k, ? AS h) AS s ON p.\"key\" = s.k "
             "WHEN MATCHED THEN UPDATE SET hash = s.h "
             "WHEN NOT MATCHED THEN INSERT (\"key\", hash) VALUES (s.k, s.h);",
}
# A batch's pairs: the members of its JSON object (keys unique), or its rows; the order of
# batches is then enough for the last hash of a key to win.
_JSON_PAIRS = f"temp.{PENDING} p LEFT JOIN json_each(p.doc) j"
_JSON_KEY, _JSON_HASH = "coalesce(j.key, p.key)", "coalesce(j.value, p.hash)"
_MOVE = {
    "sqlite": [f"INSERT OR REPLACE INTO {TABLE} (integration_id, entity, key, hash) "
               f"SELECT ?, ?, key, hash FROM temp.{PENDING} ORDER BY rowid"],
    "sqlite-json": [f"INSERT OR REPLACE INTO {TABLE} (integration_id, entity, key, hash) "
                    f"SELECT ?, ?, {_JSON_KEY}, {_JSON_HASH} FROM {_JSON_PAIRS} "
                    "ORDER BY p.rowid"],
    "postgresql": [f"INSERT INTO {TABLE} (integration_id, entity, key, hash) "
                   f"SELECT DISTINCT ON (key) %s, %s, key, hash FROM {PENDING} "
                   "ORDER BY key, seq DESC "
                   "ON CONFLICT (integration_id, entity, key) DO UPDATE SET hash = EXCLUDED.hash"],
    "mssql": [f"DELETE h FROM {TABLE} h JOIN #{PENDING} p ON h.\"key\" = p.\"key\" "
              "WHERE h.integration_id = ? AND h.entity = ?",
              f"INSERT INTO {TABLE} (integration_id, entity, \"key\", hash) "
              f"SELECT ?, ?, \"key\", hash FROM #{PENDING}"],
}
_NEW_KEYS = {  # staged keys that the state does not hold yet
    "sqlite": f"SELECT COUNT(DISTINCT key) FROM temp.{PENDING} p WHERE NOT EXISTS (SELECT 1 "
              f"FROM {TABLE} h WHERE h.integration_id = ? AND h.entity = ? AND h.key = p.key)",
    "sqlite-json": f"SELECT COUNT(DISTINCT {_JSON_KEY}) FROM {_JSON_PAIRS} WHERE NOT EXISTS "
                   f"(SELECT 1 FROM {TABLE} h WHERE h.integration_id = ? AND h.entity = ? "
                   f"AND h.key = {_JSON_KEY})",
    "postgresql": f"SELECT COUNT(DISTINCT key) FROM {PENDING} p WHERE NOT EXISTS (SELECT 1 "
                  f"FROM {TABLE} h WHERE h.integration_id = %s AND h.entity = %s "
                  "AND h.key = p.key)",
    "mssql": f"SELECT COUNT(*) FROM #{PENDING} p WHERE NOT EXISTS (SELECT 1 FROM {TABLE} h "
             "WHERE h.integration_id = ? AND h.entity = ? AND h.\"key\" = p.\"key\")",
}
_STAGED_KEYS = {  # how many distinct keys are staged
    "sqlite": f"SELECT COUNT(DISTINCT key) FROM temp.{PENDING}",
    "sqlite-json": f"SELECT COUNT(DISTINCT {_JSON_KEY}) FROM {_JSON_PAIRS}",
    "postgresql": f"SELECT COUNT(DISTINCT key) FROM {PENDING}",
    "mssql": f"SELECT COUNT(DISTINCT \"key\") FROM #{PENDING}",
}
_DROP = {
    "sqlite": f"DROP TABLE IF EXISTS temp.{PENDING}",
    "sqlite-json": f"DROP TABLE IF EXISTS temp.{PENDING}",
    "postgresql": f"DROP TABLE IF EXISTS {PENDING}",
    "mssql": f"IF OBJECT_ID('tempdb..#{PENDING}') IS NOT NULL DROP TABLE #{PENDING}",
}


@dataclass
class Mark:
    watermark: datetime | None  # server local time of the last complete read's start
    digest: str | None
    started_utc: datetime | None = None  # the same instant in UTC; None in an old mark


def load_mark(state: State, integration_id: int, entity: str) -> Mark:
    m = t.sync_marks.c
    with state.engine.connect() as conn:
        row = conn.execute(
            select(m.watermark, m.digest, m.started_utc).where(
                m.integration_id == integration_id, m.entity == entity)
        ).first()
    return Mark(row.watermark, row.digest, row.started_utc) if row else Mark(None, None)


def _where(integration_id: int, entity: str):
    h = t.export_hashes.c
    return (h.integration_id == integration_id, h.entity == entity)


def lookup(conn: Connection, integration_id: int, entity: str, keys: list[str]) -> dict[str, int]:
    """Stored hashes of ``keys`` (missing keys are simply absent)."""
    found: dict[str, int] = {}
    h = t.export_hashes.c
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        rows = conn.execute(
            select(h.key, h.hash).where(*_where(integration_id, entity), h.key.in_(chunk))
        )
        found.update((k, v) for k, v in rows)
    return found


def has_hashes(conn: Connection, integration_id: int, entity: str) -> bool:
    """Whether anything was ever sent for this (integration, entity)."""
    h = t.export_hashes.c
    return conn.execute(
        select(h.key).where(*_where(integration_id, entity)).limit(1)
    ).first() is not None


def count_keys_query(integration_id: int, entity: str) -> Select[Any]:
    """How many keys the state holds as sent and not deleted."""
    return select(func.count()).select_from(t.export_hashes).where(*_where(integration_id, entity))


def count_keys(conn: Connection, integration_id: int, entity: str) -> int:
    """How many keys the state holds as sent and not deleted."""
    return conn.execute(count_keys_query(integration_id, entity)).scalar_one()


def key_pages(conn: Connection, integration_id: int, entity: str,
              size: int = CHUNK) -> Iterator[list[str]]:
    """Every stored key, in key order, a page at a time (no cursor stays open between pages)."""
    h = t.export_hashes.c
    last: str | None = None
    while True:
        page = select(h.key).where(*_where(integration_id, entity))
        if last is not None:
            page = page.where(h.key > last)
        keys = list(conn.execute(page.order_by(h.key).limit(size)).scalars())
        if not keys:
            return
        yield keys
        last = keys[-1]


def stored_keys(state: State, integration_id: int, entity: str) -> Iterator[str]:
    """Every key with a stored hash, streamed."""
    with state.engine.connect() as conn:
        for page in key_pages(conn, integration_id, entity):
            yield from page


JSON_STAGING = True  # tests switch it off to run the row-by-row staging SQLite falls back to


def _has_json(conn: Connection) -> bool:
    """Whether this SQLite has its JSON functions (built in since 3.38; earlier optional)."""
    try:
        conn.exec_driver_sql("SELECT count(*) FROM json_each('{}')").scalar_one()
    except Exception:  # noqa: BLE001 - no json_each: the row-by-row staging
        return False
    finally:
        conn.rollback()  # nothing was written; no transaction stays open
    return True


class Pending:
    """The hashes of one pass's sent records, staged until the endpoint has committed.

    Holds one connection of the state database for the step; the staging table is private
    to it. Each :meth:`add` commits at once, so no transaction (and no SQLite snapshot)
    stays open while Optima is read.
    """

    def __init__(self, state: State, integration_id: int, entity: str) -> None:
        self.integration_id = integration_id
        self.entity = entity
        self.conn = state.engine.connect()
        self.dialect = self.conn.dialect.name
        if self.dialect not in _PENDING_DDL:
            raise NotImplementedError(f"a state database on {self.dialect}")
        if self.dialect == "sqlite" and JSON_STAGING and _has_json(self.conn):
            self.dialect = "sqlite-json"
        self.conn.exec_driver_sql(_DROP[self.dialect])
        self.conn.exec_driver_sql(_PENDING_DDL[self.dialect])
        self.conn.commit()
        self.staged = 0

    def add(self, pairs: list[tuple[str, int]]) -> None:
        if pairs:
            self._stage(pairs)
            self.staged += len(pairs)
        self.conn.commit()

    def _stage(self, pairs: list[tuple[str, int]]) -> None:
        if self.dialect != "sqlite-json":
            self.conn.exec_driver_sql(_STAGE[self.dialect], pairs)
            return
        doc = json.dumps(dict(pairs), ensure_ascii=False, check_circular=False)
        if "\\u0000" in doc:  # a key with NUL, which json_each cuts short (or a \ before u0000)
            self.conn.exec_driver_sql(_STAGE["sqlite"], pairs)
        else:
            self.conn.exec_driver_sql(_STAGE["sqlite-json"], (doc,))

    def lookup(self, keys: list[str]) -> dict[str, int]:
        found = lookup(self.conn, self.integration_id, self.entity, keys)
        self.conn.commit()
        return found

    def keys_after_save(self) -> int:
        """How many keys the state will hold once this pass is saved."""
        held = count_keys(self.conn, self.integration_id, self.entity)
        if self.staged and held == 0:  # a first export: every staged key is new
            held = self.conn.exec_driver_sql(_STAGED_KEYS[self.dialect]).scalar_one()
        elif self.staged:
            held += self.conn.exec_driver_sql(
                _NEW_KEYS[self.dialect], (self.integration_id, self.entity)).scalar_one()
        self.conn.commit()
        return held

    def save(self, deleted: Iterable[str], mark: Mark) -> None:
        """The endpoint has committed: record its hashes, its deletions and the new mark."""
        conn, ids = self.conn, (self.integration_id, self.entity)
        with conn.begin():
            if self.staged:
                for sql in _MOVE[self.dialect]:
                    conn.exec_driver_sql(sql, ids)
            for chunk in _chunks(deleted):
                conn.execute(delete(t.export_hashes).where(
                    *_where(*ids), t.export_hashes.c.key.in_(chunk)))
            _save_mark(conn, *ids, mark)

    def close(self) -> None:
        try:
            self.conn.rollback()
            self.conn.exec_driver_sql(_DROP[self.dialect])
            self.conn.commit()
        finally:
            self.conn.close()

    def __enter__(self) -> Pending:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the step's own error is the one to report
            self.close()
        except Exception:  # noqa: BLE001
            pass


def _save_mark(conn: Connection, integration_id: int, entity: str, mark: Mark) -> None:
    m = t.sync_marks
    values = dict(watermark=mark.watermark, digest=mark.digest, started_utc=mark.started_utc,
                  updated_at=utcnow())
    update_or_insert(conn, m, ("integration_id", "entity"),
                     {"integration_id": integration_id, "entity": entity, **values})


def save(
    state: State, integration_id: int, entity: str, *, changed: Iterable[tuple[str, int]],
    deleted: Iterable[str], mark: Mark,
) -> None:
    """Record what the endpoint now holds without staging: new hashes, deleted keys, the mark."""
    h = t.export_hashes
    with state.engine.begin() as conn:
        for chunk in _chunks(changed):
            keys = [k for k, _ in chunk]
            conn.execute(delete(h).where(*_where(integration_id, entity), h.c.key.in_(keys)))
            conn.execute(h.insert(), [
                {"integration_id": integration_id, "entity": entity, "key": k, "hash": v}
                for k, v in dict(chunk).items()
            ])
        for chunk in _chunks(deleted):
            conn.execute(delete(h).where(*_where(integration_id, entity), h.c.key.in_(chunk)))
        _save_mark(conn, integration_id, entity, mark)


def _chunks(items: Iterable) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
