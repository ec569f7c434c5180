"""Run records: one per pass of a company.

A run's status: ``running`` while its pass works; then ``ok``, ``partial``, ``failed`` or
``skipped``; or ``interrupted`` when its process ended without finishing it (killed, crashed,
power lost). Nobody is left to say so, so whoever finds such a run sets it
(:func:`settle_interrupted`): the next pass of the company, ``status`` and ``logs``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from optsync.clock import hostname
from optsync.errors import OptsyncError
from optsync.state import locks, logs
from optsync.state import tables as t
from optsync.state.db import State, iso, utcnow


@dataclass
class Run:
    id: int | None
    company: str
    trigger: str
    started_at: datetime
    status: str = "running"
    reason: str | None = None
    finished_at: datetime | None = None
    host: str = ""
    pid: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    company_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.id, "company": self.company, "status": self.status,
            "reason": self.reason, "trigger": self.trigger,
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "steps": self.steps,
        }


def _run(row) -> Run:
    return Run(
        id=row.id, company=row.company, trigger=row.trigger, started_at=row.started_at,
        status=row.status, reason=row.reason, finished_at=row.finished_at, host=row.host,
        pid=row.pid, steps=json.loads(row.steps or "[]"), company_id=row.company_id,
    )


def start(state: State, company_id: int | None, company: str, trigger: str,
          *, status: str = "running", reason: str | None = None, complete: bool = True) -> Run:
    """Record a pass as started (or, with ``status='skipped'``, as skipped at once)."""
    now = utcnow()
    run = Run(
        id=None, company=company, trigger=trigger, started_at=now, status=status,
        reason=reason, host=hostname(), pid=os.getpid(), company_id=company_id,
        finished_at=now if status != "running" else None,
    )
    with state.engine.begin() as conn:
        result = conn.execute(
            t.runs.insert().values(
                company_id=company_id, company=company, trigger=trigger, host=run.host,
                pid=run.pid, started_at=now, finished_at=run.finished_at, status=status,
                reason=reason, steps="[]", complete=complete,
            )
        )
        run.id = int(result.inserted_primary_key[0])
    return run


def finish(state: State, run: Run) -> None:
    run.finished_at = utcnow()
    with state.engine.begin() as conn:
        conn.execute(
            t.runs.update().where(t.runs.c.id == run.id).values(
                status=run.status, reason=run.reason, finished_at=run.finished_at,
                steps=json.dumps(run.steps, default=str),
            )
        )


def last_runs(state: State, *, include_skipped: bool = False, complete_only: bool = False,
              company_id: int | None = None) -> dict[int, Run]:
    """The latest run of every company (or one), by company id (``complete_only``: full passes)."""
    q = select(t.runs.c.company_id, func.max(t.runs.c.id).label("id")).group_by(
        t.runs.c.company_id
    )
    if company_id is not None:
        q = q.where(t.runs.c.company_id == company_id)
    if not include_skipped:
        q = q.where(t.runs.c.status != "skipped")
    if complete_only:
        q = q.where(or_(t.runs.c.complete.is_(None), t.runs.c.complete.is_(True)))
    latest = q.subquery()
    with state.engine.connect() as conn:
        rows = conn.execute(select(t.runs).join(latest, latest.c.id == t.runs.c.id)).all()
    return {r.company_id: _run(r) for r in rows if r.company_id is not None}


def get(state: State, run_id: int) -> Run | None:
    with state.engine.connect() as conn:
        row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
    return _run(row) if row else None


INTERRUPTED = "interrupted"


def _alive(run: Run, lock) -> bool:
    """Whether the run's pass still works: it holds its company's lease (see locks.holder)."""
    if lock is None:
        return False
    if lock.run_id is not None:
        return lock.run_id == run.id
    return lock.host == run.host and lock.pid == run.pid  # between runs.start and set_run


def settle_interrupted(state: State, company_id: int | None = None, *,
                       holding: bool = False) -> list[Run]:
    """Mark ``interrupted`` every ``running`` run whose process is gone; the runs so marked.

    A run is gone when its company's lease is free, expired, or held by a dead process of this
    host, or held by another run. ``holding``: the caller holds the company's lease, so no run
    of that company can still be working. Each run found is logged once (by whoever changes
    it); when the state database cannot be written, the runs are still returned as found.
    """
    q = select(t.runs).where(t.runs.c.status == "running")
    if company_id is not None:
        q = q.where(t.runs.c.company_id == company_id)
    with state.engine.connect() as conn:
        candidates = [_run(r) for r in conn.execute(q.order_by(t.runs.c.id)).all()]
    found: list[Run] = []
    for run in candidates:
        if not holding or run.company_id != company_id:
            lock = locks.holder(state, run.company_id) if run.company_id is not None else None
            if _alive(run, lock):
                continue
        run.status = INTERRUPTED
        found.append(run)
        if getattr(state, "read_only", False):
            continue  # this user may only read it: shown as found, set by the next pass
        try:
            with state.engine.begin() as conn:
                changed = conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id == run.id, t.runs.c.status == "running")
                    .values(status=INTERRUPTED)
                ).rowcount
            if changed:
                logs.write(
                    state, "warning", "sync",
                    f"pass of {run.company} (run {run.id}, started {iso(run.started_at)}, pid "
                    f"{run.pid} on {run.host}) was interrupted: its process ended without "
                    f"finishing it (killed, crashed or power lost); the next pass sends what "
                    f"it did not",
                    company=run.company, run_id=run.id,
                    data={"status": INTERRUPTED, "host": run.host, "pid": run.pid},
                )
        except (SQLAlchemyError, OptsyncError):
            pass  # the state database cannot be written now: set by the next pass
    return found


def running_ids(state: State) -> set[int]:
    """The ids of runs recorded as ``running`` (passes at work, unless interrupted)."""
    with state.engine.connect() as conn:
        return {r for (r,) in conn.execute(
            select(t.runs.c.id).where(t.runs.c.status == "running"))}
