"""Passes: one company's, every company's with integrations, or those whose schedule is due.

Every pass is recorded in the state database, also one that could not start (``failed``) or
had nothing to do now (``skipped``); the caller gets the record and what stopped the pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from optsync.state import config as cfg
from optsync.state import runs
from optsync.state.db import State
from optsync.sync.due import all_companies, due_companies
from optsync.sync.engine import run_pass
from optsync.sync.options import PassOptions

__all__ = ["CompanyPass", "PassOptions", "run_each", "run_one", "to_run"]


@dataclass
class CompanyPass:
    """One company's pass as recorded, and what stopped it when something did."""

    company: str
    run: runs.Run | None  # None only when not even a failed run could be recorded
    error: Exception | None = None


def run_one(state: State, name: str, opts: PassOptions) -> CompanyPass:
    """One company's pass (or its skip); an unknown company raises."""
    outcome = run_pass(state, name, opts)
    return CompanyPass(outcome.run.company, outcome.run, outcome.error)


def to_run(state: State, *, due: bool) -> list[cfg.Company]:
    """The companies a pass of many covers: those due now, or every one with integrations."""
    return due_companies(state) if due else all_companies(state)


def run_each(state: State, companies: list[cfg.Company],
             opts: PassOptions) -> Iterator[CompanyPass]:
    """A pass of each company in turn; one company's failure never stops the others.

    A failure outside the pass itself (the state database, say) is recorded as a ``failed``
    run of that company. When even that record cannot be written, the company comes with no
    run, and the error of the record is raised after it.
    """
    for company in companies:
        try:
            outcome = run_pass(state, company.name, opts, company=company)
        except Exception as exc:  # one company's failure never stops the others
            try:
                run = runs.start(state, company.id, company.name, opts.trigger,
                                 status="failed", reason="error")
            except Exception:
                yield CompanyPass(company.name, None, exc)
                raise
            yield CompanyPass(company.name, run, exc)
            continue
        yield CompanyPass(company.name, outcome.run, outcome.error)
