"""Log records in the state database: what ``optsync logs`` lists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from optsync.state import tables as t
from optsync.state.db import State, iso, utcnow

LEVELS = ("debug", "info", "warning", "error")
CATEGORIES = ("sync", "schedule", "config")


def _encode(data: dict[str, Any] | None) -> str | None:
    return None if data is None else json.dumps(data, ensure_ascii=False, default=str)


def write(
    state: State,
    level: str,
    category: str,
    message: str,
    *,
    company: str | None = None,
    run_id: int | None = None,
    data: dict[str, Any] | None = None,
    conn: Connection | None = None,
) -> None:
    """Append one log record (in ``conn``'s transaction when given)."""
    row = dict(
        ts=utcnow(), level=level, category=category, company=company,
        run_id=run_id, message=message, data=_encode(data),
    )
    if conn is not None:
        conn.execute(t.logs.insert().values(**row))
        return
    with state.engine.begin() as c:
        c.execute(t.logs.insert().values(**row))


def write_many(state: State, rows: list[dict[str, Any]]) -> None:
    """Append many log records in one transaction (per-record rejections of a step)."""
    if not rows:
        return
    now = utcnow()
    payload = [
        dict(
            ts=now, level=r["level"], category=r["category"], company=r.get("company"),
            run_id=r.get("run_id"), message=r["message"], data=_encode(r.get("data")),
        )
        for r in rows
    ]
    with state.engine.begin() as c:
        c.execute(t.logs.insert(), payload)


@dataclass
class LogRecord:
    id: int
    ts: datetime
    level: str
    category: str
    company: str | None
    run_id: int | None
    message: str
    data: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": iso(self.ts), "level": self.level,
            "category": self.category, "company": self.company, "run_id": self.run_id,
            "message": self.message, "data": self.data,
        }


def query(
    state: State,
    *,
    category: str | None = None,
    company: str | None = None,
    min_level: str | None = None,
    since: datetime | None = None,
    run_id: int | None = None,
    limit: int = 50,
) -> list[LogRecord]:
    """The newest ``limit`` records matching the filters, oldest first."""
    q = select(t.logs)
    if category:
        q = q.where(t.logs.c.category == category)
    if company is not None:
        q = q.where(t.logs.c.company == company)
    if min_level:
        q = q.where(t.logs.c.level.in_(LEVELS[LEVELS.index(min_level) :]))
    if since is not None:
        q = q.where(t.logs.c.ts >= since)
    if run_id is not None:
        q = q.where(t.logs.c.run_id == run_id)
    q = q.order_by(t.logs.c.id.desc()).limit(limit)
    with state.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [
        LogRecord(
            id=r.id, ts=r.ts, level=r.level, category=r.category, company=r.company,
            run_id=r.run_id, message=r.message,
            data=json.loads(r.data) if r.data else None,
        )
        for r in reversed(rows)
    ]


def prune(state: State, before: datetime) -> int:
    """Delete records older than ``before``; return how many."""
    with state.engine.begin() as conn:
        count = conn.execute(select(func.count()).where(t.logs.c.ts < before)).scalar_one()
        conn.execute(delete(t.logs).where(t.logs.c.ts < before))
    return int(count)
