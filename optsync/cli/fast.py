"""The command's entry point, with a short way for what cron starts most often.

An OS entry runs ``optsync [--home H] run --company NAME|--company-key KEY --scheduled``
every few minutes, and most of those starts fall outside the company's window. Such a start
is recorded as skipped through the same library calls as the full command, without loading
the command-line layer (Typer and every command group); anything else, or anything unusual,
goes to the full command, which says what is wrong.
"""

from __future__ import annotations

import sys
from datetime import datetime


def _parse(argv: list[str]) -> dict | None:
    """The cron form's options, or None for any other command line."""
    found: dict = {"home": None, "company": None, "key": None, "scheduled": False,
                   "json": False}
    i = 0
    while i < len(argv) and argv[i] != "run":
        if argv[i] == "--home" and i + 1 < len(argv):
            found["home"] = argv[i + 1]
            i += 2
        elif argv[i].startswith("--home="):
            found["home"] = argv[i][len("--home="):]
            i += 1
        else:
            return None  # --debug, --version, --help, another command: the full command
    rest = argv[i + 1:]
    if i >= len(argv):
        return None
    j = 0
    while j < len(rest):
        option = rest[j]
        if option in ("--company", "--company-key") and j + 1 < len(rest):
            name = "company" if option == "--company" else "key"
            if found["company"] is not None or found["key"] is not None:
                return None
            found[name] = rest[j + 1]
            j += 2
        elif option == "--scheduled":
            found["scheduled"] = True
            j += 1
        elif option == "--json":
            found["json"] = True
            j += 1
        else:
            return None
    if not found["scheduled"] or (found["company"] is None) == (found["key"] is None):
        return None
    return found


def scheduled_skip(argv: list[str]) -> int | None:
    """Record a scheduled start outside its window as skipped; None: not handled here."""
    options = _parse(argv)
    if options is None:
        return None
    try:
        # start-up time: the short way loads only what a skip needs
        from optsync.home import resolve_home
        from optsync.state import config as cfg
        from optsync.state.db import State

        state = State(resolve_home(options["home"]), create=False)
        if options["key"] is not None:
            found = [c for c in cfg.list_companies(state) if str(c.id) == options["key"].strip()]
            company = found[0] if len(found) == 1 else None
        else:
            company = cfg.find_company(state, options["company"])
        if company is None:
            state.dispose()
            return None
        schedule = cfg.get_schedule(state, company.id)
        now = datetime.now().astimezone()
        if schedule is not None and schedule.in_window(now):
            state.dispose()
            return None  # a pass to run: the full command runs it
    except Exception:  # noqa: BLE001 - the full command reports it properly
        return None
    try:
        from optsync import output  # start-up time: the short way loads only what a skip needs

        # start-up time: the short way loads only what a skip needs
        from optsync.state import logs, runs

        # The record the full command leaves for this start (optsync.sync.engine._skip);
        # a test holds the two to the same rows.
        why = "no enabled schedule" if schedule is None or not schedule.enabled else (
            "outside its window or days")
        run = runs.start(state, company.id, company.name, "scheduled", status="skipped",
                         reason="not-scheduled")
        logs.write(state, "info", "sync", f"pass of {company.name} skipped: {why}",
                   company=company.name, run_id=run.id, data={"reason": "not-scheduled"})
        if options["json"]:
            output.emit_json(run.as_json())
        else:
            output.info(f"{run.company}: skipped ({run.reason})")
        return 0
    finally:
        state.dispose()


def main() -> None:
    code = scheduled_skip(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    # start-up time: the short way loads only what a skip needs
    from optsync.cli.main import main as full

    full()
