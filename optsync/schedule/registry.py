"""The scheduler backends by name: the one place that knows them all.

The backends import :mod:`optsync.schedule.backend` and nothing here, so the arrows point one
way: registry -> cron / windows / external -> backend.
"""

from __future__ import annotations

import os
from pathlib import Path

from optsync.errors import BadInput
from optsync.schedule.backend import Runner, SchedulerBackend
from optsync.schedule.cron import CronBackend
from optsync.schedule.external import ExternalBackend

NAMES = ("auto", "cron", "windows", "external")


def auto_name() -> str:
    """The backend ``auto`` stands for on this machine: Task Scheduler on Windows, else cron."""
    return "windows" if os.name == "nt" else "cron"


def resolve_backend(
    name: str,
    *,
    crontab_file: Path | None = None,
    runner: Runner | None = None,
    run_as: tuple[str, str] | None = None,
) -> SchedulerBackend:
    """The backend called ``name`` (auto, cron, windows, external); auto picks by OS."""
    if name == "auto":
        name = auto_name()
    if name == "cron":
        return CronBackend(crontab_file)
    if name == "windows":
        # start-up time: the cron path never loads the Windows backend (XML, schtasks)
        from optsync.schedule.windows import WindowsBackend

        account = {"run_as": run_as[0], "password": run_as[1]} if run_as else {}
        return WindowsBackend(runner, **account) if runner else WindowsBackend(**account)
    if name == "external":
        return ExternalBackend()
    raise BadInput(
        f"--backend {name!r} is not a scheduler backend",
        "Use --backend auto, cron, windows or external",
    )
