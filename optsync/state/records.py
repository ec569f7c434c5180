"""A run and its log records written with nothing but ``sqlite3``.

For the command's short ways (``optsync/cli/fast.py``: a scheduled start outside its window;
``optsync/sync/quiet.py``: a pass with nothing to do), which record what the full command
records without loading SQLAlchemy: the same rows, in the stored formats of the state
database's schema version this optsync knows (``optsync.state.tables``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from typing import Any

from optsync import clock


def stored_time(moment: datetime) -> str:
    """A time as the state database's schema stores it (UTC, as text on SQLite), and as
    SQLAlchemy binds a ``DateTime`` on SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def record_run(con: sqlite3.Connection, company_id: int, name: str, trigger: str, *,
               status: str, reason: str | None, started: str, finished: str,
               steps: list[dict[str, Any]], complete: bool) -> int:
    """Insert a finished run as :mod:`optsync.state.runs` records it; its id."""
    return con.execute(
        "INSERT INTO optsync_runs (company_id, company, \"trigger\", host, pid, started_at, "
        "finished_at, status, reason, steps, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (company_id, name, trigger, clock.hostname(), os.getpid(), started, finished, status,
         reason,
         json.dumps(steps, default=str), int(complete))).lastrowid


def write_log(con: sqlite3.Connection, level: str, message: str, data: dict | None, *,
              company: str, run_id: int) -> None:
    """Append a ``sync`` log record as :func:`optsync.state.logs.write` does."""
    con.execute(
        "INSERT INTO optsync_logs (ts, level, category, company, run_id, message, data) "
        "VALUES (?, ?, 'sync', ?, ?, ?, ?)",
        (stored_time(clock.now()), level, company, run_id, message,
         None if data is None else json.dumps(data, ensure_ascii=False, default=str)))
