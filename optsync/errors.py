"""Domain errors, each carrying a documented exit code (README, "Exit codes").

The CLI catches :class:`OptsyncError` once and prints
``optsync: error: <what happened>. <what to do>``. Faults of the machine (a full disk, a
file nobody may write, a folder where a file belongs) are turned into such errors by
:func:`os_fault`, so they never end as "unexpected error". The text of any other exception
(its type and first line, passwords masked, cut to 200 characters) is made by
:func:`optsync.secrets.exception_text`, which can mask secrets (this module cannot import
it: the secrets import these errors).
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a pass ended partial/failed, drift found, status --check found a problem
    BAD_INPUT = 2
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a database or endpoint could not be reached
    LOCKED = 75  # EX_TEMPFAIL: another pass holds the company lock
    CONFIG = 78  # EX_CONFIG: configuration incomplete or refused
    INTERRUPTED = 130  # stopped with Ctrl+C (128 + SIGINT, as a shell reports it)


class OptsyncError(Exception):
    """Base of every error optsync reports to a user."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what.rstrip(".")
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.what + "."
        if self.fix:
            text += " " + self.fix.rstrip(".") + "."
        return text


class BadInput(OptsyncError):
    """An invalid option value or an unknown name."""

    exit_code = ExitCode.BAD_INPUT


class UnknownCompany(BadInput):
    """The named company is not registered."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown company {name!r}",
            "Run 'optsync company list' to see the registered companies",
        )


class Unreachable(OptsyncError):
    """A database or endpoint could not be reached (passwords masked)."""

    exit_code = ExitCode.UNAVAILABLE


class Locked(OptsyncError):
    """Another pass holds the company lock."""

    exit_code = ExitCode.LOCKED


class ConfigError(OptsyncError):
    """Configuration incomplete or refused (no operator, operator blocked, no integrations)."""

    exit_code = ExitCode.CONFIG


class Drift(OptsyncError):
    """Installed entries differ from what the schedules define."""

    exit_code = ExitCode.FAILED


def user_name() -> str:
    """The name of the user this process runs as, for messages about file access."""
    try:
        import pwd  # optional: the pwd module exists on POSIX only

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        try:
            import getpass  # start-up time: getpass loads termios, needed only for this message

            return getpass.getuser()
        except Exception:  # noqa: BLE001 - only a name for a message
            return "this user"


def os_fault(exc: OSError, path: object = None) -> OptsyncError | None:
    """The one-line error for a file-system fault (full disk, no access, a folder where a
    file belongs...), naming the file; None when the fault is not one of those."""
    where = str(path if path is not None else (exc.filename or "a file of optsync's"))
    reason = exc.strerror or type(exc).__name__
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return Unreachable(f"no space left on the disk holding {where} ({reason})",
                           "Free space on that disk (or raise the quota), then run the "
                           "command again")
    if code == errno.EROFS:
        return Unreachable(f"{where} is on a read-only file system",
                           "Remount it writable, or use a home on a writable disk "
                           "(--home DIR)")
    if code in (errno.EACCES, errno.EPERM):
        return Unreachable(f"{where} cannot be used by user {user_name()} (permission denied)",
                           "Give that user access to it, or run optsync as the user who "
                           "owns it")
    if code == errno.EISDIR:
        return ConfigError(f"{where} is a folder where optsync expects a file",
                           "Move the folder away, or point optsync at a file")
    if code == errno.ENOTDIR:
        return ConfigError(f"a part of the path {where} is a file where a folder belongs",
                           "Move that file away, or choose another path")
    if code == errno.EIO:
        return Unreachable(f"reading or writing {where} failed (input/output error)",
                           "Check the disk (dmesg, fsck), then run the command again")
    return None
