"""Which companies a ``run --all`` or ``run --due`` covers.

A company is due when its enabled schedule's most recent start (at or before now, no older
than one ``every``) is later than the start of its last pass, or it never ran. Everything
is decided from four queries, so hundreds of companies cost milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from optsync import clock
from optsync.schedule.model import Schedule
from optsync.state import config as cfg
from optsync.state import tables as t
from optsync.state.db import State
from optsync.state.runs import Run, last_runs


def _with_integrations(state: State) -> set[int]:
    with state.engine.connect() as conn:
        return set(conn.execute(select(t.integrations.c.company_id).distinct()).scalars())


def all_companies(state: State) -> list[cfg.Company]:
    """Every company with integrations, by name."""
    ids = _with_integrations(state)
    return [c for c in cfg.list_companies(state) if c.id in ids]


def _is_due(schedule: Schedule | None, last: Run | None, now: datetime) -> bool:
    """An enabled schedule whose latest start (within one ``every``) no pass has served."""
    if schedule is None or not schedule.enabled:
        return False
    start = schedule.last_start(now)
    if start is None or now - start >= timedelta(minutes=schedule.every):
        return False
    if last is None:
        return True
    started = last.started_at if last.started_at.tzinfo else last.started_at.replace(tzinfo=UTC)
    return started < start


def due_companies(state: State, now: datetime | None = None) -> list[cfg.Company]:
    """Companies whose latest scheduled start has not been served by a pass yet."""
    now = now or clock.local_now()
    schedules = {cid: s for cid, s in cfg.get_schedules(state).items() if s.enabled}
    if not schedules:
        return []
    ids = _with_integrations(state)
    latest = last_runs(state, complete_only=True)
    return [
        c for c in cfg.list_companies(state)
        if c.id in ids and _is_due(schedules.get(c.id), latest.get(c.id), now)
    ]


def still_due(state: State, company: cfg.Company, now: datetime | None = None) -> bool:
    """Whether the company is due yet; another host may have served it since it was chosen."""
    now = now or clock.local_now()
    last = last_runs(state, complete_only=True, company_id=company.id).get(company.id)
    return _is_due(cfg.get_schedule(state, company.id), last, now)
