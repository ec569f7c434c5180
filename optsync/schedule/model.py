"""The schedule of one company (Optima's "Harmonogramy") and the start times it defines.

Times are minutes after local midnight; days are 0 (Monday) to 6 (Sunday). A window with
``end < start`` runs past midnight and belongs to the day it starts on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optsync.durations import parse_minutes
from optsync.errors import BadInput

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
SCHEDULED_GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class Schedule:
    """When a company's passes start: on/off, a window, a frequency and the days."""

    enabled: bool = True
    start: int = 0  # --from, minutes after midnight
    end: int = MINUTES_PER_DAY - 1  # --to, inclusive
    every: int = 60  # minutes, 1..1440
    days: frozenset[int] = field(default=ALL_DAYS)

    @property
    def length(self) -> int:
        """Minutes from the window's start to its end (0 when both are equal)."""
        return (self.end - self.start) % MINUTES_PER_DAY

    def offsets(self) -> range:
        """Start times of one window, in minutes after the start day's midnight."""
        return range(self.start, self.start + self.length + 1, self.every)

    def week_starts(self) -> set[int]:
        """Every start in a week, as minutes after Monday 00:00 (wrapping Sunday into Monday)."""
        if not self.enabled:
            return set()
        return {
            (day * MINUTES_PER_DAY + offset) % MINUTES_PER_WEEK
            for day in self.days
            for offset in self.offsets()
        }

    def last_start(self, now: datetime) -> datetime | None:
        """The most recent start at or before ``now`` (naive or aware local time)."""
        return _nearest(self, now, backwards=True)

    def next_start(self, now: datetime) -> datetime | None:
        """The first start strictly after ``now``."""
        return _nearest(self, now, backwards=False)

    def in_window(self, now: datetime, grace: timedelta = SCHEDULED_GRACE) -> bool:
        """Whether ``now`` lies in an allowed day's window, give or take ``grace``."""
        if not self.enabled:
            return False
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for back in (0, 1):  # today's window, or yesterday's running past midnight
            day = midnight - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            opens = day + timedelta(minutes=self.start)
            closes = opens + timedelta(minutes=self.length)
            if opens - grace <= now <= closes + grace:
                return True
        return False

    # presentation -------------------------------------------------------------------
    @property
    def from_text(self) -> str:
        return format_hhmm(self.start)

    @property
    def to_text(self) -> str:
        return format_hhmm(self.end)

    @property
    def every_text(self) -> str:
        return format_every(self.every)

    @property
    def day_names(self) -> list[str]:
        return [DAY_NAMES[d] for d in sorted(self.days)]

    @property
    def days_text(self) -> str:
        return format_days(self.days)


def why_skipped(schedule: Schedule | None) -> str:
    """Why a scheduled start outside the schedule's hours was skipped, as the log says it."""
    if schedule is None or not schedule.enabled:
        return "no enabled schedule"
    return "outside its window or days"


def _nearest(schedule: Schedule, now: datetime, *, backwards: bool) -> datetime | None:
    starts = sorted(schedule.week_starts())
    if not starts:
        return None
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    minute_now = (now - monday) / timedelta(minutes=1)
    candidates = []
    for week in (-1, 0, 1):
        for s in starts:
            candidates.append(week * MINUTES_PER_WEEK + s)
    if backwards:
        best = max(c for c in candidates if c <= minute_now)
    else:
        best = min(c for c in candidates if c > minute_now)
    return monday + timedelta(minutes=best)


# parsing ------------------------------------------------------------------------------
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_hhmm(value: str, option: str = "--from") -> int:
    """``"08:30"`` -> 510; anything else is a :class:`BadInput` naming the option."""
    m = _HHMM.match(value.strip())
    if m:
        hours, minutes = int(m.group(1)), int(m.group(2))
        if hours < 24 and minutes < 60:
            return hours * 60 + minutes
    raise BadInput(
        f"{option} {value!r} is not a time of day",
        f"Use HH:MM from 00:00 to 23:59, for example {option} 08:00",
    )


def parse_every(value: str, option: str = "--every") -> int:
    """``15m``, ``1h``, ``90m``, ``1h30m`` or plain minutes (:mod:`optsync.durations`) ->
    minutes, 1 to 1440."""
    return parse_minutes(value, option, 1, MINUTES_PER_DAY,
                         "a frequency from 1 minute to 24 hours")


FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str) -> int:
    name = name.strip()
    for names in (DAY_NAMES, FULL_DAY_NAMES):
        if name in names:
            return names.index(name)
    raise ValueError(name)


def parse_days(value: str, option: str = "--days") -> frozenset[int]:
    """``all``, ``mon-fri``, ``mon,wed,fri``, ``sat-sun`` -> a set of weekday numbers."""
    text = value.strip().lower()
    if text in ("all", "*", "daily"):
        return ALL_DAYS
    days: set[int] = set()
    try:
        for part in text.split(","):
            if "-" in part:
                first, last = (_day(p) for p in part.split("-", 1))
                days.add(first)
                while first != last:  # a range may wrap: fri-mon
                    first = (first + 1) % 7
                    days.add(first)
            else:
                days.add(_day(part))
    except ValueError:
        raise BadInput(
            f"{option} {value!r} is not a set of days",
            f"Use all, a range or a list of mon..sun, for example {option} mon-fri "
            f"or {option} mon,wed,fri",
        ) from None
    return frozenset(days)


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_every(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest}m"
    return f"{hours}h{rest}m" if rest else f"{hours}h"


def format_days(days: frozenset[int]) -> str:
    if days == ALL_DAYS:
        return "all"
    ordered = sorted(days)
    if len(ordered) >= 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ordered)
