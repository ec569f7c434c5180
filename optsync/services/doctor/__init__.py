"""``optsync doctor``: what a new installation needs, each check with how to fix it.

A check is ``ok``, ``warn`` (works now, may bite later, e.g. no SQL Server driver while only
SQLite is used) or ``fail`` (something configured cannot work; ``doctor`` exits 1).
Every detail and fix is scrubbed of the passwords this process has seen.
"""

from __future__ import annotations

from optsync.services.doctor import local, odbc, remote
from optsync.services.doctor.check import STATUSES, Check
from optsync.state.db import State

__all__ = ["STATUSES", "Check", "run_checks"]


def run_checks(state: State) -> list[Check]:
    """Every check, in the order a new installation meets them; never raises for a finding."""
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

