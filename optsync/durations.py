"""One grammar for the lengths of time the command line takes.

A duration is one or more terms, each a whole number and a unit: ``s`` (seconds), ``m``
(minutes), ``h`` (hours), ``d`` (days), ``w`` (weeks), for example ``15m``, ``1h30m``,
``90d`` or ``12w``; upper or lower case, spaces between terms allowed. Where an option has a
natural unit, a plain number is read in it: minutes for ``schedule set --every 90``, seconds
for ``run --wait 60`` (a plain number may have a decimal point there). Every option that takes
a length of time reads it here (``--every``, ``--wait``, ``logs --since``,
``logs prune --older-than``); each checks its own range and names itself in its message.
"""

from __future__ import annotations

import re
from datetime import timedelta

from optsync.errors import BadInput

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TERMS = re.compile(r"(?:\d+\s*[smhdw]\s*)+")
_TERM = re.compile(r"(\d+)\s*([smhdw])")
_PLAIN = re.compile(r"\d+(?:\.\d+)?")


def duration(value: str, plain: str | None = None) -> timedelta | None:
    """``value`` read in the grammar above, or None when it is not a duration; ``plain`` is
    the unit (a key of :data:`SECONDS`) of a plain number, None where a unit is required."""
    text = value.strip().lower()
    if plain is not None and _PLAIN.fullmatch(text):
        return timedelta(seconds=float(text) * SECONDS[plain])
    if text and _TERMS.fullmatch(text):
        return timedelta(seconds=sum(int(n) * SECONDS[unit] for n, unit in _TERM.findall(text)))
    return None


def parse_age(value: str, option: str) -> timedelta:
    """An age such as ``90d``, ``12w`` or ``48h`` (a unit is required); anything else is a
    :class:`BadInput` naming the option."""
    age = duration(value)
    if age is None:
        raise BadInput(f"{option} {value!r} is not a duration",
                       f"Use a number and m, h, d or w, for example {option} 90d")
    return age


def parse_minutes(value: str, option: str, low: int, high: int, what: str) -> int:
    """A whole number of minutes from ``low`` to ``high`` (``15m``, ``1h30m``, plain minutes);
    anything else is a :class:`BadInput` naming the option and ``what`` it must be."""
    length = duration(value, plain="m")
    seconds = length.total_seconds() if length is not None else -1.0
    if seconds % 60 or not low <= seconds // 60 <= high:
        raise BadInput(
            f"{option} {value!r} is not {what}",
            f"Use minutes or hours, for example {option} 15m, {option} 1h30m or {option} 90",
        )
    return int(seconds // 60)


def parse_seconds(value: str, option: str) -> float:
    """A wait in seconds (``60``, ``2.5``) or any duration (``2m``, ``1h``); anything else,
    a negative number included, is a :class:`BadInput` naming the option."""
    length = duration(value, plain="s")
    if length is None:
        raise BadInput(f"{option} {value!r} is not a length of time",
                       f"Use seconds or a duration, for example {option} 60 or {option} 2m")
    return length.total_seconds()
