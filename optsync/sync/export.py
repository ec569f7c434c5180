"""The export side of a pass: Optima to an endpoint, sending only what changed.

Watermarked entities (products, customers, documents) are read from the settled watermark
(:mod:`optsync.sync.watermark`): rows stamped within a short window before the previous read
began, on the Optima server's clock. Full-read entities (prices, stock) are not read at all
when the fingerprint of their tables equals the last one (:mod:`optsync.optima.fingerprint`),
else read whole, vanished keys sent as deleted. Products and customers deleted in Optima are
found by counting: the keys Optima holds against the keys sent and not deleted; only when
the counts differ are the stored keys looked up in Optima.

Rows are hashed as the driver returns them (before any conversion) into 63 bits of XXH3;
only the rows whose hash changed are sent: the rows of a plain query as read, with how to
convert them, to an endpoint that takes them so (the ``sql`` endpoint, not in a dry run);
documents, and every row to other endpoints, as records. A stored hash
of an earlier version (BLAKE2b) is recognized, so an upgrade does not send everything again.
Hashes, deletions and the mark are saved only after the endpoint committed
(:class:`optsync.state.syncstate.Pending`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator
from contextlib import closing, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import xxhash
from sqlalchemy import Connection

from optsync.endpoints.base import Endpoint, Export
from optsync.entities import ENTITIES
from optsync.optima import reader
from optsync.optima.fingerprint import Fingerprints
from optsync.state import syncstate
from optsync.state.db import State, legacy_hash
from optsync.sync import watermark
from optsync.sync.steps import Step

BATCH = 10_000  # rows per read, hash, staging and send: the memory a pass needs follows it

Progress = Callable[[str, int, int | None], None]  # (entity, rows read so far, total or None)


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
    clock: watermark.ServerClock = watermark.server_time
    window: timedelta = watermark.WINDOW  # how far before the previous read to read again
    progress: Progress | None = None
    fingerprints: Fingerprints | None = None  # the pass's, computed ahead (else here)


SEP = "\x1f"  # ASCII unit separator: never part of an Optima code or symbol


def key_function(entity: str) -> Callable[[dict], str]:
    """The state key of a record: its key values as text, joined by :data:`SEP`."""
    fields = ENTITIES[entity].key
    if len(fields) == 1:
        (name,) = fields
        return lambda r: str(r[name])
    first, second = fields
    return lambda r: f"{r[first]}{SEP}{r[second]}"


def key_values(entity: str, key: str) -> tuple:
    """The record key back from :func:`key_function`'s text, with its types."""
    spec = ENTITIES[entity]
    kinds = {f.name: f.kind for f in spec.outbound}
    parts = key.split(SEP)
    return tuple(
        int(part) if kinds[name] == "int" else part
        for name, part in zip(spec.key, parts)
    )


def row_hashes(rows: list[Any]) -> list[int]:
    """Per row, 63 bits of the XXH3 hash of its values' ``repr`` (never negative: see
    :func:`legacy_hash`). XXH3's output is fixed across platforms and library versions."""
    digest = xxhash.xxh3_64_intdigest
    return [digest(repr(r).encode()) >> 1 for r in rows]


def blake_row_hashes(rows: list[Any]) -> list[int]:
    """The hashes stored from schema 4 until XXH3 replaced BLAKE2b (63 bits of it)."""
    blake, number = hashlib.blake2b, int.from_bytes
    return [number(blake(repr(r).encode(), digest_size=8).digest(), "big") >> 1 for r in rows]


def old_record_hash(record: dict) -> int:
    """The hash versions before schema 4 stored for ``record``, as :func:`legacy_hash` keeps it."""
    hexed = hashlib.blake2b(repr(tuple(record.values())).encode(), digest_size=16).hexdigest()
    return legacy_hash(hexed)


@dataclass
class _Source:
    """One entity's rows: raw batches, and how to key, hash and convert them."""

    batches: Generator[list[Any], None, None]  # closed by the pass (see RawRows.__iter__)
    keys: Callable[[list[Any]], list[str]]
    hashes: Callable[[list[Any]], list[int]]
    record: Callable[[Any], dict]  # the outbound record of one row, without ``_ts``
    earlier: Callable[[list[Any]], list[int]]  # the same rows' hashes as stored before XXH3
    # Where the row's converted values are the record's in select order: their names, and
    # the raw rows (whose ``convert`` is known once the first batch is read).
    names: list[str] | None = None
    raw: reader.RawRows | None = None

    def sender(self, out: Export) -> tuple[Callable[[Any], Any] | None,
                                           Callable[[list[Any]], None]]:
        """How one row becomes what ``out`` is sent (None: as read), and how a batch of those
        is sent. Value rows go as the driver returned them, with how to read them."""
        if self.raw is not None and self.names is not None:
            names, raw = self.names, self.raw
            return None, lambda rows: out.send_rows(names, rows, raw)
        return self.record, lambda records: out.send(records, [])


def _first_as_key(rows: list[Any]) -> list[str]:
    return [r[0] if type(r[0]) is str else str(r[0]) for r in rows]


def _two_as_key(rows: list[Any]) -> list[str]:
    return [f"{r[0]}{SEP}{r[1]}" for r in rows]


def _raw_source(job: ExportJob, since: Any) -> _Source:
    t, conn, size, entity = job.tables, job.optima, job.batch_size, job.entity
    spec = ENTITIES[entity]
    if spec.outbound_lines:  # documents: read with their lines, records already
        assert spec.reader is not None
        read = getattr(reader, spec.reader)
        docs = read(conn, t, since=since, batch_size=min(size, 1000))

        def strip(batch: list[dict]) -> list[dict]:
            for record in batch:
                record.pop("_ts")
            return batch

        key = key_function(entity)
        return _Source((strip(b) for b in docs), lambda rows: [key(r) for r in rows],
                       lambda rows: row_hashes([tuple(r.values()) for r in rows]), lambda r: r,
                       lambda rows: blake_row_hashes([tuple(r.values()) for r in rows]))
    if spec.query is None:
        raise ValueError(f"cannot export {entity}")
    query = getattr(reader, spec.query)
    if spec.watermarked:
        stmt = watermarked_query(t, entity, since)
    elif spec.setting == "price_list":
        stmt = query(t, price_list=job.price_list)
    else:
        stmt = query(t, job.warehouse, dialect_name=conn.dialect.name)
    raw = reader.RawRows(conn, stmt, size)
    keys = _first_as_key if len(spec.key) == 1 else _two_as_key
    if spec.record is not None:  # a row Python turns into the record (joined names...)
        shape = getattr(reader, spec.record)
        return _Source(iter(raw), keys, row_hashes, lambda r: shape(raw.convert(r)),
                       blake_row_hashes)
    return _Source(iter(raw), keys, row_hashes, lambda r: raw.record(r), blake_row_hashes,
                   raw.names, raw)


def watermarked_query(t: Any, entity: str, since: Any) -> Any:
    """What a read of a watermarked entity selects from ``since``: for documents, their
    headers (read with their lines); for products and customers, the rows without their
    stamp (the settled watermark does not need it, and the row as read is what is hashed)."""
    spec = ENTITIES[entity]
    if spec.outbound_lines:
        return reader.documents_query(t, since)
    assert spec.query is not None
    return getattr(reader, spec.query)(t, since, stamp=False)


def _total(job: ExportJob, since: Any) -> int | None:
    """The rows a first read will bring, where one count tells it (progress display only)."""
    if job.progress is None or since is not None or not ENTITIES[job.entity].deletes_counted:
        return None
    return job.optima.execute(reader.count_query(job.tables, job.entity)).scalar_one()


def run_export(job: ExportJob) -> Step:
    # What makes a step read nothing (the fingerprint, the watermarked read, the key count)
    # is what the quiet check asks again without this code (sync/quietplan.py compiles it):
    # a change here is a change there.
    step = Step(job.integration, job.entity, "export")
    mark = syncstate.load_mark(job.state, job.integration_id, job.entity)
    watermarked = ENTITIES[job.entity].watermarked
    started = job.clock(job.optima) if watermarked else None  # before the read begins
    since = None
    if watermarked and not job.full:
        since = watermark.since_for(mark.watermark, mark.started_utc, started, job.window)

    # Full-read entities: skip the read when the tables it depends on did not change.
    fingerprints = job.fingerprints or Fingerprints(job.tables)
    current_fp = None if watermarked else fingerprints.get(job.optima, job.entity)
    if current_fp is not None and not job.full and mark.digest == current_fp:
        return step

    source = _raw_source(job, since)
    total = _total(job, since)
    seen: set[str] = set()
    deleted: list[str] = []
    sink = nullcontext(None) if job.dry_run else job.endpoint.export(job.entity, run_id=job.run_id)
    with syncstate.Pending(job.state, job.integration_id, job.entity) as pending:
        with sink as out:
            # Nothing sent before (or --full): no hash to look up, everything goes; and when
            # nothing was sent before, nothing can have vanished since.
            sent_before = syncstate.has_hashes(pending.conn, job.integration_id, job.entity)
            compare = not job.full and sent_before
            pending.conn.commit()
            # closed on leaving, also by an error: a read ahead ends before Optima is used again
            with closing(source.batches) as batches:
                for batch in batches:
                    step.read += len(batch)
                    keys = source.keys(batch)
                    hashes = source.hashes(batch)
                    if not watermarked and sent_before:
                        seen.update(keys)
                    outgoing, send = (source.sender(out) if out is not None
                                      else (source.record, None))
                    if compare:
                        known = pending.lookup(keys)
                        fresh, upgraded = _changed(source, batch, keys, hashes, known)
                        upserts = [batch[i] for i in fresh]
                        pending.add([(keys[i], hashes[i]) for i in (*fresh, *upgraded)])
                    else:  # a first export: every row goes
                        upserts = batch
                        pending.add(list(zip(keys, hashes)))
                    if outgoing is not None:
                        upserts = [outgoing(r) for r in upserts]
                    step.unchanged += len(batch) - len(upserts)
                    step.written += len(upserts)
                    if upserts and send is not None:
                        send(upserts)
                    if job.progress is not None:
                        job.progress(job.entity, step.read, total)
            if not watermarked and sent_before:
                stored = syncstate.stored_keys(job.state, job.integration_id, job.entity)
                deleted = [k for k in stored if k not in seen]
            elif ENTITIES[job.entity].deletes_counted:
                deleted = _vanished(job, pending)
            step.deleted = len(deleted)
            for i in range(0, len(deleted) if out is not None else 0, job.batch_size):
                chunk = deleted[i : i + job.batch_size]
                out.send([], [key_values(job.entity, k) for k in chunk])
        # the endpoint has committed: now, and only now, remember what it holds
        if not job.dry_run:
            new_mark = (syncstate.Mark(started.local, None, started.utc) if watermarked
                        else syncstate.Mark(None, current_fp))
            pending.save(deleted, new_mark)
    return step


def _changed(source: _Source, batch: list[Any], keys: list[str], hashes: list[int],
             known: dict[str, int]) -> tuple[list[int], list[int]]:
    """Rows to send, and unchanged rows whose stored hash is of an earlier version (restaged)."""
    fresh: list[int] = []
    upgraded: list[int] = []
    for i, (key, value) in enumerate(zip(keys, hashes)):
        stored = known.get(key)
        if stored == value:
            continue
        if stored is not None and stored == _earlier_hash(source, batch[i], stored):
            upgraded.append(i)  # sent by an earlier version and unchanged since
            continue
        fresh.append(i)
    return fresh, upgraded


def _earlier_hash(source: _Source, row: Any, stored: int) -> int:
    """``row``'s hash as the version that stored ``stored`` computed it: before schema 4
    (negative) of the converted record, from schema 4 until XXH3 BLAKE2b of the raw row."""
    if stored < 0:
        return old_record_hash(source.record(row))
    return source.earlier([row])[0]


def _vanished(job: ExportJob, pending: syncstate.Pending) -> list[str]:
    """Keys sent and not deleted that Optima no longer holds (products, customers).

    The cheap part runs on every pass: one count in Optima, one in the state database. Only
    when they differ are the stored keys looked up in Optima, a chunk at a time. A key read
    by this pass but not stored yet is looked up on the next pass that finds a difference.
    """
    in_optima = job.optima.execute(reader.count_query(job.tables, job.entity)).scalar_one()
    if in_optima == pending.keys_after_save():
        return []
    gone: list[str] = []
    for page in syncstate.key_pages(pending.conn, job.integration_id, job.entity,
                                    size=reader.IN_CHUNK):
        present = reader.existing_keys(job.optima, job.tables, job.entity, page)
        gone.extend(k for k in page if k not in present)
    pending.conn.commit()
    return gone
