"""Per (integration, entity) export state: a watermark, a digest and a hash per record key.

Saved only after the endpoint committed (SPEC 5); read in batches so memory follows the batch
size, not the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from optsync.state import tables as t
from optsync.state.db import State, utcnow

CHUNK = 5000
_COLUMNS = "optsync_sync_hashes (integration_id, entity, key, hash)"
_UPSERT = {
    "sqlite": f"INSERT OR REPLACE INTO {_COLUMNS} VALUES (?, ?, ?, ?)",
    "postgresql": f"INSERT INTO {_COLUMNS} VALUES (%s, %s, %s, %s) ON CONFLICT "
                  "(integration_id, entity, key) DO UPDATE SET hash = EXCLUDED.hash",
}


@dataclass
class Mark:
    watermark: datetime | None
    digest: str | None


def load_mark(state: State, integration_id: int, entity: str) -> Mark:
    with state.engine.connect() as conn:
        row = conn.execute(
            select(t.sync_marks.c.watermark, t.sync_marks.c.digest).where(
                t.sync_marks.c.integration_id == integration_id,
                t.sync_marks.c.entity == entity,
            )
        ).first()
    return Mark(row.watermark, row.digest) if row else Mark(None, None)


def lookup(conn: Connection, integration_id: int, entity: str, keys: list[str]) -> dict[str, str]:
    """Stored hashes of ``keys`` (missing keys are simply absent)."""
    found: dict[str, str] = {}
    h = t.sync_hashes
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i : i + CHUNK]
        rows = conn.execute(
            select(h.c.key, h.c.hash).where(
                h.c.integration_id == integration_id, h.c.entity == entity, h.c.key.in_(chunk)
            )
        )
        found.update((k, v) for k, v in rows)
    return found


def has_hashes(conn: Connection, integration_id: int, entity: str) -> bool:
    """Whether anything was ever sent for this (integration, entity)."""
    h = t.sync_hashes
    return conn.execute(
        select(h.c.key).where(h.c.integration_id == integration_id, h.c.entity == entity)
        .limit(1)
    ).first() is not None


def stored_keys(state: State, integration_id: int, entity: str) -> Iterator[str]:
    """Every key with a stored hash, streamed."""
    h = t.sync_hashes
    with state.engine.connect() as conn:
        result = conn.execution_options(yield_per=CHUNK).execute(
            select(h.c.key).where(h.c.integration_id == integration_id, h.c.entity == entity)
        )
        for (key,) in result:
            yield key


def save(
    state: State, integration_id: int, entity: str, *, changed: Iterable[tuple[str, str]],
    deleted: Iterable[str], mark: Mark,
) -> None:
    """Record what the endpoint now holds: new hashes, forgotten keys, the new mark."""
    h = t.sync_hashes
    where = (h.c.integration_id == integration_id, h.c.entity == entity)
    with state.engine.begin() as conn:
        upsert = _UPSERT.get(conn.dialect.name)
        for chunk in _chunks(changed):
            if upsert is not None:  # one driver executemany: hashes are many and small
                conn.exec_driver_sql(upsert, [(integration_id, entity, k, v) for k, v in chunk])
                continue
            conn.execute(delete(h).where(*where, h.c.key.in_([k for k, _ in chunk])))
            conn.execute(
                h.insert(),
                [{"integration_id": integration_id, "entity": entity, "key": k, "hash": v}
                 for k, v in chunk],
            )
        for chunk in _chunks(deleted):
            conn.execute(delete(h).where(*where, h.c.key.in_(chunk)))
        m = t.sync_marks
        values = dict(watermark=mark.watermark, digest=mark.digest, updated_at=utcnow())
        done = conn.execute(
            m.update().where(m.c.integration_id == integration_id, m.c.entity == entity)
            .values(**values)
        ).rowcount
        if not done:
            conn.execute(m.insert().values(integration_id=integration_id, entity=entity,
                                           **values))


def _chunks(items: Iterable) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
