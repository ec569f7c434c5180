"""The log records of every operation: reading them (passes a killed process left first
settled as interrupted) and deleting old ones."""

from __future__ import annotations

from datetime import datetime

from optsync.state import logs as store
from optsync.state.db import State
from optsync.state.runs import settle_interrupted

CATEGORIES = ("sync", "schedule", "config")
LEVELS = store.LEVELS


def records(state: State, *, category: str | None = None, company: str | None = None,
            min_level: str | None = None, since: datetime | None = None,
            run_id: int | None = None, limit: int = 50) -> list[store.LogRecord]:
    """The newest ``limit`` records that match, oldest first."""
    settle_interrupted(state)  # a killed pass shows as interrupted, logged
    return store.query(state, category=category, company=company, min_level=min_level,
                       since=since, run_id=run_id, limit=limit)


def prune(state: State, before: datetime) -> int:
    """Delete the records older than ``before``; how many went."""
    return store.prune(state, before)
