"""The settled watermark: which rows a pass must read again (docs/guarantees.md).

Optima stamps every change of a product, customer or document with the database server's
local time (``*_TS_Mod``). A pass records the server's clock just before it reads, both as
local time and as UTC. The next pass reads only rows stamped at or after that local time
less :data:`WINDOW`: a change committed before the previous read began was seen by it, and a
change committed after it carries a stamp no older than its commit less the time its
transaction ran. So no committed change is missed as long as no transaction stamps a row
and commits more than :data:`WINDOW` later.

Local stamps repeat when clocks go back in autumn: a row changed in the repeated hour carries
a stamp older than the previous pass's start. The bound is therefore taken on the lowest
local time any instant since the previous start can carry: the start in UTC plus the
smallest UTC offset the server had since then (the offsets at both ends, and one more hour
when the passes are more than a day apart, so that a shift back and forth in between is
covered too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from optsync import clock

if TYPE_CHECKING:  # no SQLAlchemy at run time: the quiet check uses this module without it
    from sqlalchemy import Connection

WINDOW = timedelta(minutes=10)  # the longest transaction a pass tolerates; see the module doc
LEGACY_REREAD = timedelta(seconds=1)  # marks of older versions hold the newest stamp sent
LONG_GAP = timedelta(days=1)  # passes further apart may hide an offset shift and back
SHIFT = timedelta(hours=1)  # the largest such shift the margin covers


@dataclass(frozen=True)
class ServerTime:
    """One reading of the Optima server's clock: its local wall time and the same instant in UTC."""

    local: datetime  # naive, as Optima stamps rows
    utc: datetime  # naive UTC

    @property
    def offset(self) -> timedelta:
        """The server's UTC offset at this instant (``local - utc``), to the minute."""
        seconds = round((self.local - self.utc).total_seconds() / 60) * 60
        return timedelta(seconds=seconds)


ServerClock = Callable[["Connection"], ServerTime]

# The server's clock, local wall time and UTC in one statement (see server_time).
CLOCK_SQL = {
    "mssql": "SELECT SYSDATETIME(), SYSUTCDATETIME()",
    "postgresql": ("SELECT CAST(clock_timestamp() AS timestamp), "
                   "CAST(clock_timestamp() AT TIME ZONE 'UTC' AS timestamp)"),
    "sqlite": ("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime'), "
               "strftime('%Y-%m-%d %H:%M:%f', 'now')"),
}


def parse_time(value: object) -> datetime:
    """A naive local or UTC time from what a driver returned (text on SQLite)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else (
            value.astimezone(UTC).replace(tzinfo=None))
    return datetime.fromisoformat(str(value))


def server_time(conn: Connection) -> ServerTime:
    """Read the Optima server's clock: local wall time and UTC in one statement.

    SQL Server: ``SYSDATETIME()`` and ``SYSUTCDATETIME()``; PostgreSQL: ``clock_timestamp()``
    in the session's time zone and in UTC; SQLite (a file, no server): the host's clock as
    SQLite reads it.
    """
    sql = CLOCK_SQL.get(conn.dialect.name)
    if sql is None:
        now = clock.now()
        return ServerTime(now.astimezone().replace(tzinfo=None), now.replace(tzinfo=None))
    local, utc = conn.exec_driver_sql(sql).one()
    return ServerTime(parse_time(local), parse_time(utc))


def reread_from(previous: ServerTime, now: ServerTime, window: timedelta = WINDOW) -> datetime:
    """The oldest local stamp the next read must include, given the previous pass's start.

    Every instant between ``previous`` and ``now`` carries a local stamp of at least its UTC
    time plus the smallest offset in force; a change committed after ``previous`` was stamped
    at most ``window`` before its commit.
    """
    lowest = min(previous.offset, now.offset)
    if now.utc - previous.utc > LONG_GAP:
        lowest -= SHIFT
    return previous.utc + lowest - window


def since_for(watermark: datetime | None, started_utc: datetime | None,
              now: ServerTime, window: timedelta = WINDOW) -> datetime | None:
    """The ``since`` of a watermarked read from a stored mark (None: read everything).

    A mark written before the settled watermark existed (no UTC start) holds the newest stamp
    sent; that pass re-reads its last second, as the version that wrote it would have.
    """
    if watermark is None:
        return None
    if started_utc is None:
        return watermark - LEGACY_REREAD
    return reread_from(ServerTime(watermark, started_utc), now, window)
