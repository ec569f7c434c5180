"""The command's entry point, with short ways for what cron starts most often.

An OS entry runs ``optsync [--home H] run --company NAME|--company-key KEY --scheduled``
every few minutes, and most of those starts fall outside the company's window. Such a start
is recorded as skipped through the same library calls as the full command, without loading
the command-line layer (Typer and every command group). A pass that is due (or asked for
with ``run --company``, also with ``--only``, ``--entity`` and ``--json``) on SQLite files
is first held
against the quiet check (:mod:`optsync.sync.quiet`): when the last pass's plan shows that
nothing changed, it is recorded without loading SQLAlchemy at all. Anything else, or anything
unusual, goes to the full command, which says what is wrong.
"""

from __future__ import annotations

import gc
import json
import sys
import time

from optsync import clock
from optsync.errors import ExitCode


def _parse(argv: list[str]) -> dict | None:
    """The cron form's options, or None for any other command line."""
    found: dict = {"home": None, "company": None, "key": None, "scheduled": False,
                   "json": False, "only": None, "entities": set()}
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
        elif (option == "--only" and j + 1 < len(rest) and rest[j + 1] in ("export", "import")
              and found["only"] is None):
            found["only"] = rest[j + 1]
            j += 2
        elif option == "--entity" and j + 1 < len(rest):  # a plan exists for known ones only
            found["entities"].add(rest[j + 1])
            j += 2
        else:
            return None
    if (found["company"] is None) == (found["key"] is None):
        return None
    return found


def _emit(options: dict, run: dict, seconds: float = 0.0) -> None:
    """Tell what was recorded; a closed output never undoes it (nor runs it again)."""
    try:
        _write(options, run, seconds)
    except (OSError, ValueError):  # stdout or stderr closed (a broken pipe, a closed file)
        pass


def _write(options: dict, run: dict, seconds: float) -> None:
    if options["json"]:
        sys.stdout.write(json.dumps(run, ensure_ascii=False, default=str) + "\n")
    elif run["status"] == "skipped":
        sys.stderr.write(f"{run['company']}: skipped ({run['reason']})\n")
    else:
        # start-up time: only the line a pass leaves for people
        from optsync.cli.render import pass_lines

        if sys.stderr.isatty():  # as the progress display leaves each step on a terminal
            sys.stderr.writelines(f"  {_step_line(s)}\n" for s in run["steps"])
        lines = pass_lines(run["company"], run["status"], run["run_id"], run["steps"], seconds)
        sys.stderr.writelines(line + "\n" for line in lines)


def _step_line(step: dict) -> str:
    # start-up time: a step's summary as the engine writes it
    from optsync.sync.steps import Step

    return Step(**step).summary()


def _sqlite_short(options: dict) -> int | None:
    """The skip, or a pass the quiet check finds with nothing to do, on a state database in
    an SQLite file, with nothing but sqlite3.

    Writes the rows the full command writes for it (a skipped run, an info log record; or the
    run and log records of a pass), in the stored formats of the state database's schema
    version this optsync knows; any other version, or anything unexpected, is left to the
    full command.
    """
    # start-up time: the short way loads only what a skip needs
    import sqlite3

    # start-up time: only the modules a skip needs, not the command-line layer
    from optsync.home import resolve_home, state_url
    from optsync.schedule.model import Schedule, why_skipped
    from optsync.state.records import record_run, stored_time, write_log
    from optsync.state.version import SCHEMA_VERSION

    home = resolve_home(options["home"])
    path = home / "state.db"
    if state_url(home) != f"sqlite:///{path}" or not path.is_file():
        return None
    con = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=30,
                          isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA synchronous = NORMAL")  # as the state database's engine writes
        version = con.execute(
            "SELECT value FROM optsync_meta WHERE key = 'schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:
            return None
        if options["key"] is not None:
            found = [r for r in con.execute("SELECT id, name FROM optsync_companies")
                     if str(r[0]) == options["key"].strip()]
        else:
            found = con.execute("SELECT id, name FROM optsync_companies WHERE name = ?",
                                (options["company"],)).fetchall()
        if len(found) != 1:
            return None
        company_id, name = found[0]
        narrowed = {"only": options["only"], "entities": options["entities"]}
        if not options["scheduled"]:
            return _quiet(options, con, home, company_id, name, narrowed)
        row = con.execute("SELECT enabled, start_min, end_min, every_min, days "
                          "FROM optsync_schedules WHERE company_id = ?", (company_id,)).fetchone()
        schedule = None if row is None else Schedule(
            enabled=bool(row[0]), start=row[1], end=row[2], every=row[3],
            days=frozenset(int(d) for d in row[4].split(",") if d))
        if schedule is not None and schedule.in_window(clock.local_now()):
            return _quiet(options, con, home, company_id, name,
                          {"trigger": "scheduled", "scheduled": True, **narrowed})
        now = clock.now()
        stored = stored_time(now)
        con.execute("BEGIN IMMEDIATE")
        try:
            run_id = record_run(con, company_id, name, "scheduled", status="skipped",
                                reason="not-scheduled", started=stored, finished=stored,
                                steps=[], complete=True)
            write_log(con, "info", f"pass of {name} skipped: {why_skipped(schedule)}",
                      {"reason": "not-scheduled"}, company=name, run_id=run_id)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except (sqlite3.Error, ValueError, OSError):
        return None
    finally:
        con.close()
    when = now.isoformat(timespec="seconds")
    _emit(options, {"run_id": run_id, "company": name, "status": "skipped",
                    "reason": "not-scheduled", "trigger": "scheduled", "started_at": when,
                    "finished_at": when, "steps": []})
    return ExitCode.OK


def _quiet(options: dict, con, home, company_id: int, name: str, asked: dict) -> int | None:
    """The pass, when the quiet check finds nothing to do; None: the full command runs it."""
    # start-up time: the quiet check loads only for a start inside its window
    from optsync.sync import quiet
    from optsync.sync.options import PassOptions  # start-up time: as above

    opts = PassOptions(**asked)
    began = time.monotonic()
    run = quiet.quiet_pass(con, home, company_id, name, opts)
    if run is None:
        return None
    _emit(options, run, time.monotonic() - began)
    return ExitCode.OK


def scheduled_skip(argv: list[str]) -> int | None:
    """Record a scheduled start outside its window as skipped, or a pass the quiet check
    finds with nothing to do; None: not handled here."""
    options = _parse(argv)
    if options is None:
        return None
    try:
        done = _sqlite_short(options)
    except Exception:  # noqa: BLE001 - the full command reports it properly
        done = None
    if done is not None:
        return done
    if not options["scheduled"]:
        return None
    try:
        # start-up time: the short way loads only what a skip needs
        from optsync.home import resolve_home
        from optsync.services.start import company_by_key
        from optsync.state import config as cfg
        from optsync.state.db import State

        state = State(resolve_home(options["home"]), create=False)
        if options["key"] is not None:
            company = company_by_key(state, options["key"])
        else:
            company = cfg.find_company(state, options["company"])
        if company is None:
            state.dispose()
            return None
        schedule = cfg.get_schedule(state, company.id)
        now = clock.local_now()
        if schedule is not None and schedule.in_window(now):
            state.dispose()
            return None  # a pass to run: the full command runs it
    except Exception:  # noqa: BLE001 - the full command reports it properly
        return None
    try:
        # start-up time: the short way loads only what a skip needs
        from optsync.sync.window import record_skip

        # The same record the full command leaves for this start.
        run = record_skip(state, company, schedule, "scheduled")
        _emit(options, run.as_json())
        return ExitCode.OK
    finally:
        state.dispose()


GC_START = 50_000  # allocations between two collections of Python's youngest generation


def main() -> None:
    # Loading the command builds a few hundred thousand long-lived objects (SQLAlchemy's);
    # at Python's default (a collection every 700 allocations) the cycle collector walks them
    # again and again while they load, a tenth of a short command's time. They hold no
    # garbage cycles, and a pass collects as seldom anyway (sync/engine.py).
    gc.set_threshold(GC_START, *gc.get_threshold()[1:])
    code = scheduled_skip(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    # start-up time: the short way loads only what a skip needs
    from optsync.cli.main import main as full

    full()
