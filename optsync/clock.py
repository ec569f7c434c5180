"""The one clock and the one host name of optsync, both replaceable by tests.

Every "now" optsync stores, compares or shows comes from :func:`now` (aware, UTC) or
:func:`local_now` (this machine's time zone, for schedules' hours and days), and every
"this machine" from :func:`hostname`. Tests set a fixed or moving time with :func:`set_now`
(undo with ``set_now(None)``), and another machine's name with ``$OPTSYNC_HOSTNAME`` (which
also reaches a subprocess; containers use it too).

Two kinds of time stay outside: durations measured with ``time.monotonic`` (a wait, a
timeout), and ages of files, which are compared with the file system's own clock
(``time.time``) because that is the clock that stamped them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] | None = None


def now() -> datetime:
    """The current time, aware, in UTC."""
    if _source is None:
        return datetime.now(UTC)
    return _source().astimezone(UTC)


def local_now() -> datetime:
    """The current time in this machine's time zone (aware)."""
    return now().astimezone()


def set_now(source: Callable[[], datetime] | datetime | None) -> None:
    """Make :func:`now` answer ``source`` (a fixed aware time, or a function returning one);
    None gives the real clock back."""
    global _source
    if isinstance(source, datetime):
        fixed = source
        _source = lambda: fixed  # noqa: E731 - a fixed time as a source
    else:
        _source = source


def hostname() -> str:
    """This machine's name, or ``$OPTSYNC_HOSTNAME`` (containers, tests of several hosts)."""
    return os.environ.get("OPTSYNC_HOSTNAME") or socket.gethostname()
