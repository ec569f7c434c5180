"""The quiet check: a pass with nothing to do, found and recorded without SQLAlchemy.

A pass whose databases are all SQLite files (the state database, the company's Optima
database and configuration database, every endpoint) leaves a *plan* in the state database
(:mod:`optsync.sync.quietplan`): the SQL, compiled by the pass itself, that tells whether the
next pass would find anything to do. The next ``optsync run`` of the company runs that SQL
with nothing but Python's ``sqlite3`` and, when every answer says "nothing", records the
pass as the engine would (a run with its steps, read 0 and written 0, and the same log
records) without loading SQLAlchemy, the Optima reader or the endpoints. Any other answer,
any doubt or any error leaves the pass to the engine, which then runs it in full.

What the plan must find unchanged, each against what the engine itself compares:

- the optsync that compiled it (its installed files) and the secret key the pass used;
- the configuration rows of the company, its integrations and the operator (a digest taken
  when that pass began), the Optima operator check's rows (taken before it checked), and the
  price lists and warehouses an integration's settings are checked against;
- no lock on the company, no run of it still recorded as running;
- per integration: optsync's marks in the endpoint readable as the engine reads them, ours
  naming the run the state database remembers; the endpoint's tables as that pass left
  them; no inbound row waiting;
- per exported entity: no row read from the settled watermark (the engine's own query,
  counted, from the same stored mark and the Optima clock; for products, their table's
  newest stamp older than the read's start), as many keys in Optima as the state holds; or,
  for prices and stock, the fingerprint equal to the stored one.

Such a pass writes nothing else: the watermark stays where the last full read left it (a
later read starts no later than it would have), the endpoint's mark names that read's run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from optsync import clock
from optsync.optima.digest import rows_digest
from optsync.state.records import record_run, stored_time, write_log
from optsync.sync import journal
from optsync.sync.known import ENTITY as MARK_ENTITY
from optsync.sync.known import Known
from optsync.sync.options import PassOptions
from optsync.sync.steps import Step
from optsync.sync.watermark import CLOCK_SQL, ServerTime, parse_time, since_for

FORMAT = 1  # of the stored plan; a plan of another format is not used
SINCE = "since"  # the slot of a watermarked count's parameters filled with the read's start

# The configuration a pass acts on; a plan holds their digest when its pass began.
CONFIG_SQL = (
    ("SELECT * FROM optsync_companies WHERE id = ?", True),
    ("SELECT * FROM optsync_integrations WHERE company_id = ? ORDER BY id", True),
    # not ``verified``: a pass that checks the operator sets it (see _Check.run)
    ("SELECT id, acronym, password_secret, updated_at FROM optsync_operator ORDER BY id", False),
)
# An SQLite database's tables and indexes as created (an endpoint's exchange tables).
SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"

Execute = Callable[[str, Sequence[Any]], list]  # (SQL, parameters) -> rows of driver values


def plan_key(company_id: int, opts: PassOptions) -> str:
    """The ``optsync_meta`` key of a company's plan for the steps ``opts`` narrows the pass to
    (``--only``, ``--entity``); short enough for the table's key column."""
    entities = ",".join(sorted(opts.entities))
    narrowed = hashlib.blake2b(entities.encode(), digest_size=4).hexdigest() if entities else "*"
    return f"quiet:{company_id}:{opts.only or 'all'}:{narrowed}"


def plan_prefix(company_id: int) -> str:
    return f"quiet:{company_id}:"


def narrowing(opts: PassOptions) -> dict[str, Any]:
    """What a plan is for, compared exactly (its key is short, and may be shared)."""
    return {"only": opts.only, "entities": sorted(opts.entities)}


def code_stamp() -> str:
    """The installed optsync, as a plan must find it: the plan's SQL was compiled by this code,
    and another version (an upgrade, an edit) may read, write or check otherwise."""
    root = Path(__file__).resolve().parent.parent
    found = []
    folders = [root]
    while folders:
        for entry in os.scandir(folders.pop()):
            if entry.is_dir():
                if entry.name != "__pycache__":
                    folders.append(Path(entry.path))
            elif entry.name.endswith((".py", ".tsv", ".json")):
                info = entry.stat()
                found.append((os.path.relpath(entry.path, root), info.st_size, info.st_mtime_ns))
    return rows_digest([sorted(found)])


def secret_stamp(home: Path) -> str:
    """Which secret key the pass would decrypt with, as a digest: another key, or none, makes
    the engine's pass fail. Read as :class:`optsync.secrets.Vault` reads it
    (``$OPTSYNC_SECRET_KEY``, else the home's key file), without loading that module."""
    env = os.environ.get("OPTSYNC_SECRET_KEY")
    try:
        key = env.strip().encode() if env else (home / "secret.key").read_bytes().strip()
    except FileNotFoundError:
        key = b"\x00missing"
    except OSError:
        key = b"\x00unreadable"
    return hashlib.blake2b(key, digest_size=16, person=b"optsync-quiet").hexdigest()


def config_digest(execute: Execute, company_id: int) -> str:
    """The digest of the configuration rows a pass of the company acts on."""
    return rows_digest(execute(sql, (company_id,) if by_company else ())
                       for sql, by_company in CONFIG_SQL)


class _Declined(Exception):
    """Something may be to do: the engine runs the pass."""


BUSY = 0.25  # seconds to wait for a database another program is writing; then the engine,
# which waits as long as it must, runs the pass (the check holds the state database meanwhile)


def _open(path: str) -> sqlite3.Connection:
    """An existing SQLite file, read only."""
    if not os.path.isabs(path) or not os.path.isfile(path):
        raise _Declined(path)
    return sqlite3.connect(f"{Path(path).as_uri()}?mode=ro", uri=True, timeout=BUSY)


def _bound(query: dict, slots: dict[str, Any]) -> tuple[str, list]:
    args = list(query["args"])
    for name, places in query.get("slots", {}).items():
        for place in places:
            args[place] = slots[name]
    return query["sql"], args


def _rows(con: sqlite3.Connection, query: dict, **slots: Any) -> list:
    return con.execute(*_bound(query, slots)).fetchall()


WORKERS = 3  # connections answering the Optima queries at once (scans of wide tables)


# optsync's mark's time as SQLAlchemy reads it back from SQLite (else the engine cannot read
# the marks, and warns)
_MARK_TIME = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d{1,6})?)?")


def _readable_marks(rows: list) -> bool:
    """Whether the engine reads every mark in the endpoint (identity, last run, time)."""
    return all(type(run) is int and (at is None or (type(at) is str and _MARK_TIME.fullmatch(at)))
               for _identity, run, at in rows)


class _Check:
    """One company's plan held against its databases as they are now.

    The cheap checks run first, in order; the Optima queries (scans of tables Optima does
    not index by modification time) are then answered side by side, each on a connection of
    its own, as the engine takes its fingerprints. A query answered a moment before a change
    still declines nothing it should: the quiet pass stores no watermark and no fingerprint,
    so the next pass compares against the same marks and finds the change.
    """

    def __init__(self, state: sqlite3.Connection, company_id: int, plan: dict,
                  home: Path) -> None:
        self.state, self.company_id, self.plan, self.home = state, company_id, plan, home
        self.opened: list[sqlite3.Connection] = []
        self.asked: dict[str, tuple[str, list]] = {}  # Optima queries, each asked once
        self.expected: list[tuple[Callable[..., Any], list[str], Any]] = []

    def open(self, path: str) -> sqlite3.Connection:
        con = _open(path)
        self.opened.append(con)
        return con

    def close(self) -> None:
        for con in self.opened:
            con.close()

    def require(self, condition: bool) -> None:
        if not condition:
            raise _Declined()

    def ask(self, query: dict, **slots: Any) -> str:
        """Queue an Optima query; the key of its answer."""
        sql, args = _bound(query, slots)
        key = f"{sql}\x00{args!r}"
        self.asked.setdefault(key, (sql, args))
        return key

    def expect(self, answer: Callable[..., Any], keys: list[str], value: Any) -> None:
        """Once the queries of ``keys`` are answered, ``answer`` of their rows must be ``value``."""
        self.expected.append((answer, keys, value))

    def run(self, opts: PassOptions) -> list[Step]:
        """The steps of a pass with nothing to do; raises :class:`_Declined` otherwise."""
        state, plan = self.state, self.plan
        self.require(plan.get("format") == FORMAT and plan["narrowing"] == narrowing(opts))
        self.require(plan["code"] == code_stamp())
        self.require(plan["secret"] == secret_stamp(self.home))
        self.require(state.execute("SELECT 1 FROM optsync_locks WHERE company_id = ?",
                                   (self.company_id,)).fetchone() is None)
        self.require(state.execute(
            "SELECT 1 FROM optsync_runs WHERE company_id = ? AND status = 'running'",
            (self.company_id,)).fetchone() is None)
        execute = lambda sql, args: state.execute(sql, args).fetchall()  # noqa: E731
        self.require(config_digest(execute, self.company_id) == plan["config"])
        operator = plan.get("operator")
        if operator is not None:
            # the engine records the check as passed; a pass that failed it elsewhere
            # recorded otherwise, and the engine then sets it again
            self.require(state.execute("SELECT verified FROM optsync_operator").fetchall()
                         == [(1,)])
            con = self.open(operator["db"])
            self.require(rows_digest(_rows(con, q) for q in operator["queries"])
                         == operator["digest"])
        optima = self.open(plan["optima"])
        settings = plan["settings"]  # what the checks of price lists and warehouses read
        self.expect(lambda *results: rows_digest(results),
                    [self.ask(query) for query in settings["queries"]], settings["digest"])
        local, utc = optima.execute(CLOCK_SQL["sqlite"]).fetchone()
        now = ServerTime(parse_time(local), parse_time(utc))
        steps: list[Step] = []
        for integration in plan["integrations"]:
            steps += self.integration(integration, now)
        answers = self.answers(plan["optima"])
        for answer, keys, value in self.expected:
            self.require(answer(*(answers[key] for key in keys)) == value)
        return steps

    def answers(self, path: str) -> dict[str, list]:
        """Every queued Optima query's rows, answered by up to :data:`WORKERS` connections."""
        # start-up time: threads only for a quiet check that reached its Optima queries
        import threading

        todo = list(self.asked.items())
        found: dict[str, list] = {}
        failed: list[BaseException] = []

        def answer() -> None:
            try:
                con = _open(path)
                try:
                    while not failed:
                        try:
                            key, (sql, args) = todo.pop()
                        except IndexError:
                            return
                        found[key] = con.execute(sql, args).fetchall()
                finally:
                    con.close()
            except BaseException as exc:  # noqa: BLE001 - declined below
                failed.append(exc)

        workers = [threading.Thread(target=answer, name=f"optsync-quiet-{i}", daemon=True)
                   for i in range(min(WORKERS, len(todo)))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.require(not failed and len(found) == len(self.asked))
        return found

    def mark(self, integration_id: int, entity: str) -> tuple | None:
        return self.state.execute(
            "SELECT watermark, digest, started_utc FROM optsync_sync_marks "
            "WHERE integration_id = ? AND entity = ?", (integration_id, entity)).fetchone()

    def integration(self, integ: dict, now: ServerTime) -> list[Step]:
        row = self.mark(integ["id"], MARK_ENTITY)
        known = Known.decode(row[1]) if row is not None and row[1] else None
        self.require(known is not None and known.run is not None and known.pending is None)
        endpoint = self.open(integ["endpoint"])
        marks = _rows(endpoint, integ["mark"])
        self.require(_readable_marks(marks))
        self.require([run for identity, run, _at in marks if identity == known.identity]
                     == [known.run])
        self.require(rows_digest([endpoint.execute(SCHEMA_SQL).fetchall()]) == integ["schema"])
        steps = []
        for direction, entity in integ["steps"]:
            if direction == "import":
                self.require(not _rows(endpoint, integ["imports"][entity]))
            else:
                self.export(integ["id"], entity, integ["exports"][entity], now)
            steps.append(Step(integ["name"], entity, direction))
        return steps

    def export(self, integration_id: int, entity: str, queries: dict, now: ServerTime) -> None:
        row = self.mark(integration_id, entity)
        self.require(row is not None)
        watermark, digest, started_utc = row
        if "fingerprint" in queries:
            self.require(digest is not None)
            keys = [self.ask(query) for query in queries["fingerprint"]]
            self.expect(lambda *results: rows_digest(results), keys, digest)
            return
        self.require(watermark is not None and started_utc is not None)
        since = since_for(parse_time(watermark), parse_time(started_utc), now)
        self.require(since is not None)
        bound = stored_time(since)
        if "newest" in queries:
            # Every row the read selects is stamped at or after ``since``: none is when the
            # table's newest stamp is older (compared as SQLite compares text; a stamp that
            # is not text leaves the pass to the engine).
            column = queries["column"]
            self.expect(lambda rows: rows[0][column] is None or (
                type(rows[0][column]) is str and rows[0][column] < bound),
                [self.ask(queries["newest"])], True)
        else:
            self.expect(lambda rows: rows, [self.ask(queries["changed"], **{SINCE: bound})],
                        [(0,)])
        if "count" in queries:
            self.expect(lambda rows: rows, [self.ask(queries["count"])],
                        _rows(self.state, queries["held"]))


def quiet_pass(state: sqlite3.Connection, home: Path, company_id: int, name: str,
               opts: PassOptions) -> dict[str, Any] | None:
    """Record the pass of a company with nothing to do, as the engine would; its run as
    ``Run.as_json`` gives it. None: the engine must run the pass (nothing was written).

    ``state`` is the state database (an SQLite file) of the ``home`` opened in autocommit
    mode; the check and the records are one write transaction, so no other pass starts or
    ends meanwhile (the other companies' passes wait for its scans of Optima, a tenth of a
    second on 100,000 products, as for any write of the state database).
    """
    if opts.dry_run or opts.full:
        return None
    now = clock.now()
    started = stored_time(now)
    state.execute("BEGIN IMMEDIATE")
    try:
        found = state.execute("SELECT value FROM optsync_meta WHERE key = ?",
                              (plan_key(company_id, opts),)).fetchone()
        if found is None:
            raise _Declined()
        check = _Check(state, company_id, json.loads(found[0]), home)
        try:
            steps = check.run(opts)
        finally:
            check.close()
        ended = clock.now()
        as_json = [s.as_json() for s in steps]
        run_id = record_run(state, company_id, name, opts.trigger, status="ok", reason=None,
                            started=started, finished=stored_time(ended), steps=as_json,
                            complete=opts.complete)
        level, message, data = journal.started(name, opts)
        write_log(state, level, message, data | {"quiet": True}, company=name, run_id=run_id)
        for step in steps:
            write_log(state, *journal.step_done(step, opts), company=name, run_id=run_id)
        write_log(state, *journal.ended(name, "ok", steps), company=name, run_id=run_id)
        state.execute("COMMIT")
    except (_Declined, sqlite3.Error, LookupError, TypeError, ValueError):
        if state.in_transaction:
            state.execute("ROLLBACK")
        return None
    except BaseException:
        if state.in_transaction:
            state.execute("ROLLBACK")
        raise
    return {"run_id": run_id, "company": name, "status": "ok", "reason": None,
            "trigger": opts.trigger, "started_at": now.isoformat(timespec="seconds"),
            "finished_at": ended.isoformat(timespec="seconds"), "steps": as_json}
