"""Turn a :class:`Schedule` into crontab time specs that fire at exactly its start times.

Pure functions only: :func:`plan_cron` plans the lines, :func:`cron_fire_times` evaluates cron
fields independently of the planner, so a property test can prove one against the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from optsync.schedule.model import MINUTES_PER_DAY, MINUTES_PER_WEEK, Schedule

# Cron numbers weekdays from Sunday (0); the model from Monday (0).
_CRON_DOW_OF_DAY = {day: (day + 1) % 7 for day in range(7)}
_DAY_OF_CRON_DOW = {dow: day for day, dow in _CRON_DOW_OF_DAY.items()}


@dataclass(frozen=True, order=True)
class CronSpec:
    """The five time fields of one crontab line."""

    minute: str
    hour: str
    dom: str
    month: str
    dow: str

    def __str__(self) -> str:
        return f"{self.minute} {self.hour} {self.dom} {self.month} {self.dow}"


def plan_cron(schedule: Schedule) -> list[CronSpec]:
    """Few crontab specs whose fire times over a week equal ``schedule.week_starts()``."""
    starts = schedule.week_starts()
    if not starts:
        return []
    # (cron weekday, hour) -> minutes of that hour; the after-midnight part of a window
    # lands on the next weekday because week_starts() already wrapped it there.
    minutes_at: dict[tuple[int, int], set[int]] = defaultdict(set)
    for week_minute in starts:
        day, minute_of_day = divmod(week_minute, MINUTES_PER_DAY)
        hour, minute = divmod(minute_of_day, 60)
        minutes_at[(_CRON_DOW_OF_DAY[day], hour)].add(minute)

    # Cells sharing a minute set can share a line when they form a (hours x weekdays) grid.
    cells_of: dict[frozenset[int], list[tuple[int, int]]] = defaultdict(list)
    for cell, minutes in minutes_at.items():
        cells_of[frozenset(minutes)].append(cell)

    specs: list[CronSpec] = []
    for minute_set, cells in cells_of.items():
        # Both groupings are exact by construction; keep the one needing fewer lines.
        rectangles = min(_grid(cells, key=1), _grid(cells, key=0), key=len)
        specs.extend(
            CronSpec(_field(minute_set, 0, 59), _field(hours, 0, 23), "*", "*", _field(dows, 0, 6))
            for hours, dows in rectangles
        )

    # Read in window order: the evening lines of a 22:00-02:00 window before its small hours.
    def window_order(spec: CronSpec) -> tuple[int, str]:
        fired = cron_fire_times([spec])
        return min((t - schedule.start) % MINUTES_PER_DAY for t in fired), str(spec)

    return sorted(specs, key=window_order)


def _grid(cells: list[tuple[int, int]], key: int) -> list[tuple[set[int], set[int]]]:
    """Split (dow, hour) cells into (hours, dows) rectangles, grouping along ``key``."""
    other = 1 - key
    along: dict[int, set[int]] = defaultdict(set)  # key value -> other values
    for cell in cells:
        along[cell[key]].add(cell[other])
    grouped: dict[frozenset[int], set[int]] = defaultdict(set)  # other set -> key values
    for value, others in along.items():
        grouped[frozenset(others)].add(value)
    if key == 1:  # key is the hour: grouped maps dow sets to hours
        return [(hours, set(dows)) for dows, hours in grouped.items()]
    return [(set(hours), dows) for hours, dows in grouped.items()]


def _field(values: Iterable[int], lo: int, hi: int) -> str:
    """Shortest plain rendering of a set of values: ``*``, ``*/step``, ranges and lists."""
    ordered = sorted(values)
    if ordered == list(range(lo, hi + 1)):
        return "*"
    if len(ordered) >= 3 and hi > 6:  # a step over weekdays (*/6 = sun,sat) would puzzle
        step = ordered[1] - ordered[0]
        if step > 1 and ordered == list(range(lo, hi + 1, step)):
            return f"*/{step}"
    # Split into runs of consecutive values; a run of three or more reads best as a-b.
    runs: list[list[int]] = [[ordered[0]]]
    for value in ordered[1:]:
        if value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    parts: list[str] = []
    for run in runs:
        parts += [f"{run[0]}-{run[-1]}"] if len(run) >= 3 else [str(v) for v in run]
    return ",".join(parts)


def cron_fire_times(specs: Iterable[CronSpec]) -> set[int]:
    """Minutes after Monday 00:00 at which these specs fire in a week (day-of-month ``*`` only)."""
    fired: set[int] = set()
    for spec in specs:
        if spec.dom != "*" or spec.month != "*":
            raise ValueError(f"cannot place {spec} in a week: day of month or month is not '*'")
        for dow in _parse_field(spec.dow, 0, 7):
            day = _DAY_OF_CRON_DOW[dow % 7]
            for hour in _parse_field(spec.hour, 0, 23):
                for minute in _parse_field(spec.minute, 0, 59):
                    fired.add((day * MINUTES_PER_DAY + hour * 60 + minute) % MINUTES_PER_WEEK)
    return fired


def _parse_field(text: str, lo: int, hi: int) -> set[int]:
    """Values of one cron field: lists of ``*``, ``n``, ``a-b``, each optionally ``/step``."""
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = lo, hi
        elif "-" in base:
            first, last = (int(v) for v in base.split("-", 1))
        else:
            first = int(base)
            last = hi if step_text else first
        if not (lo <= first <= last <= hi) or step < 1:
            raise ValueError(f"cron field {text!r} is out of range {lo}-{hi}")
        values.update(range(first, last + 1, step))
    return values
