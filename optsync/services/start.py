"""What a pass needs before the pass machinery loads: its company, and whether it is due now.

Cron starts ``run --scheduled`` many times a day outside the schedule's hours; such a start
reads the state database, records the skip and ends, without loading the Optima reader,
writer or endpoints (see :mod:`optsync.services.passes` for the pass itself).
"""

from __future__ import annotations

from optsync.state import config as cfg
from optsync.state.db import State
from optsync.state.runs import Run
from optsync.sync.window import skip_outside_window


def company_by_key(state: State, key: str) -> cfg.Company | None:
    """The company whose key (its number, as OS entries name it) is ``key``, or None."""
    found = [c for c in cfg.list_companies(state) if str(c.id) == key.strip()]
    return found[0] if found else None


def skipped_outside_window(state: State, name: str, trigger: str) -> Run | None:
    """The recorded skip when the company's schedule does not cover now; an unknown name raises."""
    return skip_outside_window(state, cfg.get_company(state, name), trigger)
