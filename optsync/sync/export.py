"""The export side of a pass: Optima to an endpoint, sending only what changed (SPEC 5).

Watermarked entities (products, customers, documents) are read from ``watermark - 1 s``;
full-read ones (prices, stock) are read whole, skipped at once when the digest of the whole
read equals the last one, and otherwise compared record by record, vanished keys sent as
deleted. Hashes and the watermark are saved only after the endpoint committed.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from contextlib import nullcontext
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from optsync.endpoints.base import Endpoint
from optsync.endpoints.records import ENTITY_KEYS
from optsync.optima import reader
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


def key_function(entity: str) -> Callable[[dict], str]:
    """The state key of a record: the key value, or a JSON list for composite keys."""
    fields = ENTITY_KEYS[entity]
    if len(fields) == 1:
        (name,) = fields
        return lambda r: str(r[name])
    return lambda r: json.dumps([r[f] for f in fields], ensure_ascii=False, default=str)


def record_hash(record: dict) -> str:
    """A stable hash of what would be sent (the source timestamp left out)."""
    payload = repr([v for k, v in record.items() if k != "_ts"])
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


def run_export(job: ExportJob) -> Step:
    step = Step(job.integration, job.entity, "export")
    mark = syncstate.Mark(None, None) if job.full else syncstate.load_mark(
        job.state, job.integration_id, job.entity
    )
    watermarked = job.entity in WATERMARKED
    since = mark.watermark - READ_AGAIN if watermarked and mark.watermark else None

    if not watermarked and mark.digest:
        current, count = _digest_only(job)
        if current == mark.digest:
            step.read = step.unchanged = count
            return step

    key_of = key_function(job.entity)
    digest = hashlib.blake2b(digest_size=16)
    seen: set[str] = set()
    deleted: list[str] = []
    watermark = mark.watermark
    sink = nullcontext(None) if job.dry_run else job.endpoint.export(job.entity, run_id=job.run_id)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as changed:
        with job.state.engine.connect() as sconn, sink as out:
            for batch in _reader(job, since):
                step.read += len(batch)
                keys = [key_of(r) for r in batch]
                hashes = [record_hash(r) for r in batch]
                known = {} if job.full else syncstate.lookup(
                    sconn, job.integration_id, job.entity, keys
                )
                upserts = []
                for record, key, h in zip(batch, keys, hashes):
                    digest.update(h.encode())
                    ts = record.pop("_ts", None)
                    if ts is not None and (watermark is None or ts > watermark):
                        watermark = ts
                    if not watermarked:
                        seen.add(key)
                    if known.get(key) == h:
                        step.unchanged += 1
                        continue
                    upserts.append(record)
                    changed.write(f"{key}\t{h}\n")
                step.written += len(upserts)
                if out is not None and upserts:
                    out.send(upserts, [])
            if not watermarked:
                stored = syncstate.stored_keys(job.state, job.integration_id, job.entity)
                deleted = [k for k in stored if k not in seen]
                step.deleted = len(deleted)
                for i in range(0, len(deleted) if out is not None else 0, job.batch_size):
                    chunk = deleted[i : i + job.batch_size]
                    out.send([], [tuple(json.loads(k)) for k in chunk])
        # the endpoint has committed: now, and only now, remember what it holds
        if job.dry_run:
            return step
        changed.seek(0)
        syncstate.save(
            job.state, job.integration_id, job.entity,
            changed=(tuple(line.rstrip("\n").rsplit("\t", 1)) for line in changed),
            deleted=deleted,
            mark=syncstate.Mark(watermark, None if watermarked else digest.hexdigest()),
        )
    return step


def _digest_only(job: ExportJob) -> tuple[str, int]:
    """The digest and record count of a full-read entity, computed as :func:`run_export` does."""
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    for batch in _reader(job, None):
        count += len(batch)
        for record in batch:
            digest.update(record_hash(record).encode())
    return digest.hexdigest(), count
