"""The log records a pass leaves: its start, each step, its end.

Without SQLAlchemy, so that a pass the quiet check finds with nothing to do
(:mod:`optsync.sync.quiet`) leaves the very records a pass through the engine leaves.
"""

from __future__ import annotations

from typing import Any

from optsync.sync.options import PassOptions
from optsync.sync.steps import Step

Record = tuple[str, str, dict[str, Any]]  # level, message, data


def started(company: str, opts: PassOptions) -> Record:
    return ("info", f"pass of {company} started ({opts.trigger})",
            {"trigger": opts.trigger, "dry_run": opts.dry_run, "full": opts.full})


def step_done(step: Step, opts: PassOptions) -> Record:
    level = {"ok": "info", "partial": "warning", "failed": "error"}[step.status]
    prefix = "dry run: " if opts.dry_run else ""
    return level, prefix + step.summary(), step.as_json()


def ended(company: str, status: str, steps: list[Step]) -> Record:
    level = "info" if status == "ok" else "warning"
    return (level, f"pass of {company} ended {status}",
            {"status": status, "steps": len(steps), "written": sum(s.written for s in steps),
             "rejected": sum(s.rejected for s in steps)})
