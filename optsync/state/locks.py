"""The company lease: one pass per company at a time, across processes and hosts.

A row per company in ``optsync_locks``, taken atomically (insert, or compare-and-swap on the
holder's token), renewed while the pass runs, and taken over when it expired or its holder
on this host is no longer running. docs/guarantees.md states the guarantee.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from optsync.clock import hostname
from optsync.state import tables as t
from optsync.state.db import State, utcnow

LEASE = timedelta(seconds=60)
RENEW_EVERY = 15.0


@dataclass
class Holder:
    host: str
    pid: int
    run_id: int | None
    acquired_at: datetime
    expires_at: datetime


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # A zombie (killed, not yet reaped) holds no lock either.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def holder(state: State, company_id: int) -> Holder | None:
    """Who holds the company's lease now (None when free, expired or its holder died)."""
    with state.engine.connect() as conn:
        row = conn.execute(select(t.locks).where(t.locks.c.company_id == company_id)).first()
    if row is None or _takeable(row):
        return None
    return Holder(row.host, row.pid, row.run_id, _aware(row.acquired_at),
                  _aware(row.expires_at))


def _takeable(row) -> bool:
    if _aware(row.expires_at) < utcnow():
        return True
    return row.host == hostname() and not pid_alive(row.pid)


class Lease:
    """A held company lease; renew it in the background with :meth:`keep_alive`."""

    def __init__(self, state: State, company_id: int, token: str) -> None:
        self.state = state
        self.company_id = company_id
        self.token = token
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def set_run(self, run_id: int) -> None:
        with self.state.engine.begin() as conn:
            conn.execute(self._mine().values(run_id=run_id))

    def _mine(self):
        return t.locks.update().where(
            t.locks.c.company_id == self.company_id, t.locks.c.token == self.token
        )

    def renew(self) -> bool:
        with self.state.engine.begin() as conn:
            done = conn.execute(self._mine().values(expires_at=utcnow() + LEASE)).rowcount
        self.lost = self.lost or not done
        return bool(done)

    def keep_alive(self) -> None:
        def loop() -> None:
            while not self._stop.wait(RENEW_EVERY):
                try:
                    self.renew()
                except Exception:  # a missed renewal is retried; the lease is 4x longer
                    pass

        self._thread = threading.Thread(target=loop, name="optsync-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self.state.engine.begin() as conn:
            conn.execute(
                delete(t.locks).where(
                    t.locks.c.company_id == self.company_id, t.locks.c.token == self.token
                )
            )


def try_acquire(state: State, company_id: int) -> Lease | None:
    """Take the company's lease if it is free, expired or held by a dead local process."""
    token = uuid.uuid4().hex
    now = utcnow()
    values = dict(host=hostname(), pid=os.getpid(), token=token, run_id=None,
                  acquired_at=now, expires_at=now + LEASE)
    try:
        with state.engine.begin() as conn:
            conn.execute(t.locks.insert().values(company_id=company_id, **values))
        return Lease(state, company_id, token)
    except IntegrityError:
        pass
    with state.engine.connect() as conn:
        row = conn.execute(select(t.locks).where(t.locks.c.company_id == company_id)).first()
    if row is None:  # released between our insert and select: try once more
        return try_acquire(state, company_id)
    if not _takeable(row):
        return None
    with state.engine.begin() as conn:  # compare-and-swap on the old holder's token
        swapped = conn.execute(
            t.locks.update()
            .where(t.locks.c.company_id == company_id, t.locks.c.token == row.token)
            .values(**values)
        ).rowcount
    return Lease(state, company_id, token) if swapped else None


def acquire(state: State, company_id: int, wait: float = 0.0) -> Lease | None:
    """:func:`try_acquire`, polling for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        lease = try_acquire(state, company_id)
        if lease is not None or time.monotonic() >= deadline:
            return lease
        time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
