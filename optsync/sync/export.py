"""The export side of a pass: Optima to an endpoint, sending only what changed (SPEC 5).

Watermarked entities (products, customers, documents) are read from ``watermark - 1 s``;
full-read ones (prices, stock) are not read at all when the fingerprint of their tables
equals the last one (:mod:`optsync.optima.fingerprint`), else read whole and compared record
by record, vanished keys sent as deleted. Hashes, watermark and fingerprint are saved only
after the endpoint committed.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from optsync.endpoints.base import Endpoint
from optsync.endpoints.records import ENTITY_KEYS, OUTBOUND_SPEC
from optsync.optima import reader
from optsync.optima.fingerprint import fingerprint
from optsync.state import syncstate
from optsync.state.db import State
from optsync.sync.steps import Step

BATCH = 5000
WATERMARKED = {"products", "customers", "documents"}
READ_AGAIN = timedelta(seconds=1)  # datetime rounding: re-read the last second, dedupe by hash


@dataclass
class ExportJob:
    state: State
    optima: Connection
    tables: Any
    endpoint: Endpoint
    integration_id: int
    integration: str
    entity: str
    run_id: int
    full: bool = False
    dry_run: bool = False
    price_list: int | None = None
    warehouse: str | None = None
    batch_size: int = BATCH


def _reader(job: ExportJob, since: datetime | None) -> Iterator[list[dict]]:
    t, conn, size = job.tables, job.optima, job.batch_size
    if job.entity == "products":
        return reader.read_products(conn, t, since=since, batch_size=size)
    if job.entity == "customers":
        return reader.read_customers(conn, t, since=since, batch_size=size)
    if job.entity == "documents":
        return reader.read_documents(conn, t, since=since, batch_size=min(size, 1000))
    if job.entity == "prices":
        return reader.read_prices(conn, t, price_list=job.price_list, batch_size=size)
    if job.entity == "stock":
        return reader.read_stock(conn, t, warehouse=job.warehouse, batch_size=size)
    raise ValueError(f"cannot export {job.entity}")


SEP = "\x1f"  # ASCII unit separator: never part of an Optima code or symbol


def key_function(entity: str) -> Callable[[dict], str]:
    """The state key of a record: its key values as text, joined by :data:`SEP`."""
    fields = ENTITY_KEYS[entity]
    if len(fields) == 1:
        (name,) = fields
        return lambda r: str(r[name])
    first, second = fields
    return lambda r: f"{r[first]}{SEP}{r[second]}"


def key_values(entity: str, key: str) -> tuple:
    """The record key back from :func:`key_function`'s text, with its types."""
    kinds = {f.name: f.kind for f in OUTBOUND_SPEC[entity]}
    parts = key.split(SEP)
    return tuple(
        int(part) if kinds[name] == "int" else part
        for name, part in zip(ENTITY_KEYS[entity], parts)
    )


def record_hash(record: dict) -> str:
    """A stable hash of what would be sent (the source timestamp already popped)."""
    return hashlib.blake2b(repr(tuple(record.values())).encode(), digest_size=16).hexdigest()


def run_export(job: ExportJob) -> Step:
    step = Step(job.integration, job.entity, "export")
    mark = syncstate.Mark(None, None) if job.full else syncstate.load_mark(
        job.state, job.integration_id, job.entity
    )
    watermarked = job.entity in WATERMARKED
    since = mark.watermark - READ_AGAIN if watermarked and mark.watermark else None

    # Full-read entities: skip the read when the tables it depends on did not change.
    current_fp = None if watermarked else fingerprint(job.optima, job.tables, job.entity)
    if current_fp is not None and not job.full and mark.digest == current_fp:
        return step

    key_of = key_function(job.entity)
    seen: set[str] = set()
    deleted: list[str] = []
    watermark = mark.watermark
    sink = nullcontext(None) if job.dry_run else job.endpoint.export(job.entity, run_id=job.run_id)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as changed:
        with job.state.engine.connect() as sconn, sink as out:
            # Nothing sent before (or --full): no hash to look up, everything goes.
            compare = not job.full and syncstate.has_hashes(sconn, job.integration_id, job.entity)
            for batch in _reader(job, since):
                step.read += len(batch)
                if watermarked:
                    stamps = [r.pop("_ts") for r in batch]
                    newest = max(stamps)
                    watermark = newest if watermark is None else max(watermark, newest)
                keys = [key_of(r) for r in batch]
                hashes = [record_hash(r) for r in batch]
                if not watermarked:
                    seen.update(keys)
                if compare:
                    known = syncstate.lookup(sconn, job.integration_id, job.entity, keys)
                    fresh = [i for i, (k, h) in enumerate(zip(keys, hashes)) if known.get(k) != h]
                    upserts = [batch[i] for i in fresh]
                    lines = [f"{keys[i]}\t{hashes[i]}\n" for i in fresh]
                else:
                    upserts = batch
                    lines = [f"{k}\t{h}\n" for k, h in zip(keys, hashes)]
                step.unchanged += len(batch) - len(upserts)
                step.written += len(upserts)
                changed.writelines(lines)
                if upserts and out is not None:
                    out.send(upserts, [])
            if not watermarked:
                stored = syncstate.stored_keys(job.state, job.integration_id, job.entity)
                deleted = [k for k in stored if k not in seen]
                step.deleted = len(deleted)
                for i in range(0, len(deleted) if out is not None else 0, job.batch_size):
                    chunk = deleted[i : i + job.batch_size]
                    out.send([], [key_values(job.entity, k) for k in chunk])
        # the endpoint has committed: now, and only now, remember what it holds
        if job.dry_run:
            return step
        changed.seek(0)
        syncstate.save(
            job.state, job.integration_id, job.entity,
            changed=(tuple(line.rstrip("\n").rsplit("\t", 1)) for line in changed),
            deleted=deleted,
            mark=syncstate.Mark(watermark, current_fp),
        )
    return step
