"""The import side of a pass: an endpoint's inbound records into Optima.

Records go to the Optima writer in small batches; each lands whole or not at all there, and
only then is it marked in the endpoint. A record the writer has seen before (its GUID is in
Optima) comes back as a duplicate and is marked imported again, never written twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from optsync.endpoints.base import Endpoint, Inbound
from optsync.entities import ENTITIES
from optsync.secrets import error_text
from optsync.sync.steps import Step

BATCH = 200


@dataclass
class ImportJob:
    endpoint: Endpoint
    writer: Any  # optsync.optima.writer.OptimaWriter
    integration: str
    entity: str
    dry_run: bool = False
    batch_size: int = BATCH
    progress: Any = None  # (entity, records read so far, None): a progress display's


@dataclass
class Rejection:
    label: str
    reason: str


def run_import(job: ImportJob, rejected: list[Rejection]) -> Step:
    """Import every waiting record of one entity; append each rejection to ``rejected``."""
    step = Step(job.integration, job.entity, "import")
    if job.dry_run:  # every check made before writing, and nothing written or marked
        write = lambda records: job.writer.check(job.entity, records)  # noqa: E731
    else:
        write = getattr(job.writer, ENTITIES[job.entity].writer or "")
    batch: list[Inbound] = []

    def flush() -> None:
        if not batch:
            return
        results = write([ib.record for ib in batch])
        for inbound, result in zip(batch, results):
            if result.status == "rejected":
                _reject(job, step, inbound, result.error or "rejected", rejected)
                continue
            if job.dry_run:
                continue
            job.endpoint.mark(job.entity, inbound, status="imported", erp_id=result.erp_id,
                              erp_number=result.erp_number)
            if result.status == "imported":
                step.written += 1
            else:  # duplicate: in Optima already, e.g. after a crash before the mark
                step.unchanged += 1
        batch.clear()

    lost: list[BaseException] = []  # the endpoint failing mid-read: what came before counts
    for inbound in _until_failure(job.endpoint.inbox(job.entity), lost):
        step.read += 1
        if inbound.error or inbound.record is None:
            _reject(job, step, inbound, inbound.error or "unreadable record", rejected)
            continue
        batch.append(inbound)
        if len(batch) >= job.batch_size:
            flush()
            if job.progress is not None:
                job.progress(job.entity, step.read, None)
    flush()
    if not job.dry_run:
        try:
            job.endpoint.finish_inbox(job.entity)
        except Exception as exc:  # the endpoint's bookkeeping: what Optima holds stays counted
            step.status = "failed"
            step.error = error_text(exc)
            return step
    if lost:
        step.status = "failed"
        step.error = error_text(lost[0])
        return step
    if step.rejected:
        step.status = "partial"
    return step


def _reject(job: ImportJob, step: Step, inbound: Inbound, reason: str,
            rejected: list[Rejection]) -> None:
    if not job.dry_run:
        job.endpoint.mark(job.entity, inbound, status="rejected", error=reason)
    step.rejected += 1
    rejected.append(Rejection(inbound.label, reason))


def _until_failure(records: Iterator[Inbound], failures: list[BaseException]) -> Iterator[Inbound]:
    """The endpoint's records until it fails as a whole (that failure kept in ``failures``), so
    that the records read before it are still written, marked and counted."""
    try:
        yield from records
    except Exception as exc:  # noqa: BLE001 - reported as the step's failure
        failures.append(exc)


