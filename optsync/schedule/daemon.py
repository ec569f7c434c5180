"""Whether a cron daemon runs on this host, read from ``/proc`` (Linux)."""

from __future__ import annotations

from pathlib import Path

# Process names of the cron daemons of the usual distributions and of busybox.
CRON_DAEMONS = frozenset({"cron", "crond", "cronie", "fcron", "dcron"})
START_HINT = "service cron start"


def cron_daemon_running(proc: Path = Path("/proc")) -> bool | None:
    """True when a cron daemon process is alive, False when none is, None when unknowable."""
    if not proc.is_dir():
        return None  # no procfs (macOS, Windows): we cannot tell
    try:
        pids = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            name = (pid / "comm").read_text().strip()
        except OSError:  # the process ended while we looked
            continue
        if name in CRON_DAEMONS and not _zombie(pid):
            return True
    return False


def _zombie(pid: Path) -> bool:
    try:
        return (pid / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
