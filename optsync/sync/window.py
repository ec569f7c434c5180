"""Whether a scheduled pass falls in its company's schedule; outside it, the skip is recorded.

Kept apart from the engine so that cron's start outside the window loads only the state
database and the schedule, never the Optima reader, writer or endpoints.
"""

from __future__ import annotations

from datetime import datetime

from optsync import clock
from optsync.schedule.model import Schedule, why_skipped
from optsync.state import config as cfg
from optsync.state import logs, runs
from optsync.state.db import State


def skip_outside_window(state: State, company: cfg.Company, trigger: str,
                        now: datetime | None = None) -> runs.Run | None:
    """The recorded ``skipped`` run when the company's schedule does not cover ``now``, else None."""
    schedule = cfg.get_schedule(state, company.id)
    now = now or clock.local_now()
    if schedule is not None and schedule.in_window(now):
        return None
    return record_skip(state, company, schedule, trigger)


def record_skip(state: State, company: cfg.Company, schedule: Schedule | None,
                trigger: str) -> runs.Run:
    """Record a start outside the schedule's hours: a ``skipped`` run and its log record."""
    run = runs.start(state, company.id, company.name, trigger, status="skipped",
                     reason="not-scheduled")
    logs.write(state, "info", "sync", f"pass of {company.name} skipped: {why_skipped(schedule)}",
               company=company.name, run_id=run.id, data={"reason": "not-scheduled"})
    return run
