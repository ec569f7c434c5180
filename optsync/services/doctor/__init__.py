"""``optsync doctor``: what a new installation needs, each check with how to fix it (SPEC 2.8).

A check is ``ok``, ``warn`` (works now, may bite later, e.g. no SQL Server driver while only
SQLite is used) or ``fail`` (something configured cannot work; ``doctor`` exits 1).
Every detail and fix is scrubbed of the passwords this process has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optsync.state.db import State

STATUSES = ("ok", "warn", "fail")


@dataclass
class Check:
    """One finding: what was checked, ok|warn|fail, what was found, and how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        from optsync.secrets import redact

        assert self.status in STATUSES, self.status
        self.detail = redact(self.detail)
        self.fix = redact(self.fix)

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail,
                "fix": self.fix}


def run_checks(state: State) -> list[Check]:
    """Every check, in the order a new installation meets them; never raises for a finding."""
    from optsync.services.doctor import local, odbc, remote

    checks = [local.home(state), local.state_database(state)]
    if checks[-1].status != "fail":
        checks.append(local.secret_key(state))
        checks += remote.configuration(state)
        checks += local.names(state)
        urls = remote.urls(state)
    else:
        urls = []
    checks += odbc.checks(urls)
    checks += local.scheduler(state if checks[1].status != "fail" else None)
    return checks


def render(checks: list[Check]) -> None:
    """Draw the checks as a table on stdout and a one-line tally on stderr."""
    from optsync import output

    output.table(None, ["check", "status", "detail", "fix"],
                 [(c.check, c.status.upper(), c.detail, c.fix) for c in checks])
    tally = {s: sum(c.status == s for c in checks) for s in STATUSES}
    output.info(f"{tally['ok']} ok, {tally['warn']} warning(s), {tally['fail']} failure(s)")
