"""Run records: one per pass of a company (SPEC 2.6)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select

from optsync.home import hostname
from optsync.state import tables as t
from optsync.state.db import State, utcnow


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="seconds")


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
