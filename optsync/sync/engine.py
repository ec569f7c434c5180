"""One pass of a company, and the choice of companies for ``--all`` / ``--due``.

Order of checks before any work: operator set (78), operator allowed in Optima (78),
company lock (75, or skipped under ``--all``/``--due``). With the lock held, runs of the company
left ``running`` by a killed pass become ``interrupted``. Then, per integration in name order:
optsync's temporary files a killed pass left in the endpoint are removed, the endpoint's mark
is compared with the state database (:mod:`optsync.sync.identity`: a deleted, replaced or
restored endpoint gets everything again), every export step, every import step, and the
endpoint is marked with this run. One failing step does not stop the others.
"""

from __future__ import annotations

import gc
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from optsync import dburl
from optsync.dburl import database_name
from optsync.endpoints import load_endpoint
from optsync.entities import ENTITIES
from optsync.errors import ConfigError, ExitCode, OptsyncError, Unreachable
from optsync.optima.choices import setting_problems
from optsync.optima.fingerprint import Fingerprints
from optsync.optima.operator import OperatorInfo, check_operator
from optsync.optima.tables import tables_for
from optsync.optima.writer import OptimaWriter
from optsync.secrets import error_text, exception_text
from optsync.state import config as cfg
from optsync.state import locks, logs, runs, syncstate
from optsync.state.db import State
from optsync.sync import identity, journal, quietplan
from optsync.sync.due import still_due
from optsync.sync.export import ExportJob, key_function, key_values, run_export
from optsync.sync.imports import ImportJob, run_import
from optsync.sync.options import PassOptions
from optsync.sync.steps import Step, run_status
from optsync.sync.window import skip_outside_window

__all__ = ["PassOptions", "PassOutcome", "run_company", "run_pass"]


def _log(state: State, level: str, message: str, company: str, run_id: int | None = None,
         data: dict | None = None) -> None:
    logs.write(state, level, "sync", message, company=company, run_id=run_id, data=data)


def _skip(state: State, company: cfg.Company, opts: PassOptions, reason: str,
          detail: str) -> runs.Run:
    run = runs.start(state, company.id, company.name, opts.trigger, status="skipped",
                     reason=reason)
    _log(state, "info", f"pass of {company.name} skipped: {detail}", company.name, run.id,
         {"reason": reason})
    return run


@dataclass
class PassOutcome:
    """A pass as recorded (ok, partial, failed, skipped) and what stopped it, if anything did."""

    run: runs.Run
    error: Exception | None = None  # a pass that could not start, or that broke off


def run_company(state: State, name: str, opts: PassOptions, *, now: datetime | None = None,
                company: cfg.Company | None = None) -> runs.Run:
    """Run (or skip) one pass of a company; raise for what stopped it (recorded already)."""
    outcome = run_pass(state, name, opts, now=now, company=company)
    if outcome.error is not None:
        raise outcome.error
    return outcome.run


def run_pass(state: State, name: str, opts: PassOptions, *, now: datetime | None = None,
             company: cfg.Company | None = None) -> PassOutcome:
    """Run (or skip) one pass of a company; what stops it is recorded and returned, not raised.

    An unknown company raises (nothing to record it under), and so does an interrupt
    (Ctrl-C), after the run is recorded as failed.
    """
    company = company or cfg.get_company(state, name)
    if opts.scheduled:
        skipped = skip_outside_window(state, company, opts.trigger, now)
        if skipped is not None:
            return PassOutcome(skipped)

    # the configuration this pass acts on, for the quiet check of the next (sync/quiet.py)
    plan = quietplan.Recorder(state, company.id, opts)
    if plan.active and cfg.get_company(state, company.name) != company:
        plan.discard("the company changed since the caller read it")
    try:
        op_info, integrations = _preflight(state, company, plan)
    except OptsyncError as exc:
        return PassOutcome(_refused(state, company, opts, exc), exc)

    lease = locks.acquire(state, company.id, opts.wait)
    if lease is None:
        held = locks.holder(state, company.id)
        where = f" by pid {held.pid} on {held.host}" if held else ""
        return PassOutcome(_skip(state, company, opts, "locked",
                                 f"another pass holds the lock{where}"))
    try:
        if opts.trigger == "due" and not still_due(state, company):
            # served by another host since it was chosen
            return PassOutcome(_skip(state, company, opts, "locked",
                                     "another pass served it since it was found due"))
        runs.settle_interrupted(state, company.id, holding=True)
        locked_at = time.time()  # optsync's temporary files older than this are leftovers
        keep = runs.running_ids(state)  # other companies' passes may share an endpoint
        run = runs.start(state, company.id, company.name, opts.trigger, complete=opts.complete)
        lease.set_run(run.id)
        lease.keep_alive()
        level, message, data = journal.started(company.name, opts)
        _log(state, level, message, company.name, run.id, data)
        try:
            if not opts.dry_run:
                quietplan.forget(state, company.id)  # only this pass may leave the next plan
            with _fewer_collections():
                steps = _work(state, company, integrations, op_info, run.id, opts, lease,
                              Housekeeping(locked_at, keep), plan)
        except BaseException as exc:  # a run never stays "running" after its process
            run.status, run.reason = "failed", None
            run.steps = []
            runs.finish(state, run)
            _log(state, "error", f"pass of {company.name} failed: {error_text(exc)}",
                 company.name, run.id)
            if isinstance(exc, Exception):
                return PassOutcome(run, exc)
            raise
        run.steps = [s.as_json() for s in steps]
        run.status = run_status(steps)
        runs.finish(state, run)
        level, message, data = journal.ended(company.name, run.status, steps)
        _log(state, level, message, company.name, run.id, data)
        plan.save(run.status)
        return PassOutcome(run)
    finally:
        lease.release()


REASONS = {ExitCode.UNAVAILABLE: "unreachable", ExitCode.CONFIG: "config"}

GC_ROWS = 50_000  # allocations between two collections of the youngest generation in a pass


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the pass with Python's cycle collector looking less often.

    A pass allocates rows by the hundred thousand, short-lived and without reference cycles;
    at Python's default (a collection every 700 allocations) collecting them costs about a
    tenth of a full export. Memory is unaffected: rows are freed by reference counting.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], GC_ROWS), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _preflight(state: State, company: cfg.Company, plan: quietplan.Recorder):
    """What must hold before any work: an operator Optima accepts, and integrations."""
    operator = cfg.get_operator(state)
    if operator is None:
        raise ConfigError("no operator is set", "Run 'optsync operator set ACRONYM' first")
    integrations = cfg.list_integrations(state, company)
    if not integrations:
        raise ConfigError(
            f"company {company.name!r} has no integrations",
            f"Add one with 'optsync integration add --company {company.name!r} ...'",
        )
    return _check_operator(state, company, operator.acronym, plan), integrations


def _refused(state: State, company: cfg.Company, opts: PassOptions,
             exc: OptsyncError) -> runs.Run:
    """Record a pass that could not start as a failed run, so logs and status show it."""
    run = runs.start(state, company.id, company.name, opts.trigger, status="failed",
                     reason=REASONS.get(exc.exit_code, "error"))
    _log(state, "error", f"pass of {company.name} not started: {exc.message}", company.name,
         run.id, {"reason": run.reason})
    return run


def _check_operator(state: State, company: cfg.Company, acronym: str,
                    plan: quietplan.Recorder):
    """The operator as Optima knows it; checked where the configuration database is known."""
    config_url = company.real_config_db_url(state)
    if config_url is None:
        return OperatorInfo(None, acronym, acronym)
    engine = dburl.engine_for(config_url)
    try:
        with engine.connect() as conn:
            plan.operator_checked(conn, acronym)  # the rows the check reads, before it
            info = check_operator(
                conn, acronym, company_db_name=_database_name(company.real_db_url(state))
            )
    except ConfigError:
        cfg.mark_operator_verified(state, False)
        raise
    except OptsyncError:
        raise
    except Exception as exc:
        raise Unreachable(
            f"the configuration database {company.config_db_url} cannot be read "
            f"({exception_text(exc)})",
            "Check that it runs, or run 'optsync doctor'",
        ) from None
    finally:
        engine.dispose()
    cfg.mark_operator_verified(state, True)
    return info


def _database_name(url: str) -> str | None:
    """The database a company URL names (a SQLite file's stem), as CDN.Bazy lists it."""
    return database_name(url)


@dataclass
class Housekeeping:
    """What a pass knows when it starts: leftovers older than ``locked_at`` (POSIX time) and
    not of a run in ``keep`` (passes still running) are a killed pass's."""

    locked_at: float
    keep: set[int]


def _work(state: State, company: cfg.Company, integrations: list[cfg.Integration], op_info,
          run_id: int, opts: PassOptions, lease: locks.Lease,
          housekeeping: Housekeeping, plan: quietplan.Recorder) -> list[Step]:
    warned: set[str] = set()

    def warn_once(message: str) -> None:  # what the writer finds odd in Optima, once a pass
        if message not in warned:
            warned.add(message)
            _log(state, "warning", message, company.name, run_id)

    db_url = company.real_db_url(state)
    dburl.connect_check(db_url, f"the database of company {company.name!r}")
    optima = dburl.engine_for(db_url)
    steps: list[Step] = []
    password = cfg.operator_password(state)
    fingerprints: Fingerprints | None = None
    try:
        tables = tables_for(optima)
        plan.optima_opened(optima, tables)
        fingerprints = Fingerprints(tables)
        fingerprints.start(optima, _exports_before_imports(integrations, opts))
        for integ in sorted(integrations, key=lambda i: i.name):
            planned = _planned(integ, opts)
            if not planned:
                continue
            try:
                endpoint = load_endpoint(integ.real_endpoint(state))
                endpoint.check()
                endpoint.use_operator(op_info.code, password)
            except OptsyncError as exc:
                for direction, entity in planned:
                    steps.append(_failed(integ.name, entity, direction, error_text(exc)))
                    _note(state, company, run_id, steps[-1], opts)
                continue
            try:
                job = _IntegrationPass(state, company, integ, endpoint, optima, tables, run_id,
                                       opts, fingerprints)
                job.prepare(housekeeping)
                plan.endpoint_ready(integ, endpoint, planned)
                writer = OptimaWriter(optima, tables, op_info, namespace=integ.name,
                                      warehouse=integ.warehouse, warn=warn_once)
                for direction, entity in planned:
                    if not lease.renew():  # another pass took over: never run side by side
                        steps.append(_failed(integ.name, entity, direction,
                                             "the company lock was lost; the step did not run"))
                        job.ended(steps[-1])
                        _note(state, company, run_id, steps[-1], opts)
                        continue
                    if opts.on_start is not None:
                        opts.on_start(f"{company.name}: {direction} {entity} ({integ.name})")
                    if direction == "import":
                        fingerprints.written()  # no scan beside a write, none reused after it
                    try:
                        if direction == "export":
                            step = job.export(entity)
                            _note(state, company, run_id, step, opts)
                        else:
                            rejected: list = []
                            step = run_import(ImportJob(endpoint, writer, integ.name, entity,
                                                        dry_run=opts.dry_run,
                                                        progress=opts.on_rows), rejected)
                            _note(state, company, run_id, step, opts, rejected)
                    except Exception as exc:  # one failing step never stops the others
                        step = _failed(integ.name, entity, direction, error_text(exc))
                        _note(state, company, run_id, step, opts)
                    job.ended(step)
                    steps.append(step)
                if job.finish(planned):
                    plan.endpoint_marked(integ)
            finally:
                endpoint.close()
    finally:
        try:
            if fingerprints is not None:
                fingerprints.wait()
        finally:
            optima.dispose()
    return steps


def _exports_before_imports(integrations: list[cfg.Integration], opts: PassOptions) -> list[str]:
    """The entities the pass exports before its first import step, in the pass's order: their
    fingerprints can be taken ahead, as nothing this pass writes into Optima comes before
    their steps."""
    ahead: list[str] = []
    for integ in sorted(integrations, key=lambda i: i.name):
        for direction, entity in _planned(integ, opts):
            if direction == "import":
                return ahead
            ahead.append(entity)
    return ahead


class _IntegrationPass:
    """One integration's part of a pass: housekeeping, the endpoint's mark, export steps."""

    def __init__(self, state: State, company: cfg.Company, integ: cfg.Integration, endpoint,
                 optima, tables, run_id: int, opts: PassOptions,
                 fingerprints: Fingerprints | None = None) -> None:
        self.state, self.company, self.integ = state, company, integ
        self.endpoint, self.optima, self.tables = endpoint, optima, tables
        self.fingerprints = fingerprints
        self.run_id, self.opts = run_id, opts
        self.verdict = None
        self.full_for: set[str] = set()  # entities sent again whole (forgotten sent-state)
        self.failed_exports: set[str] = set()
        self.settings: dict[str, str] = {}  # entity -> why its setting points nowhere

    def log(self, level: str, message: str, data: dict | None = None) -> None:
        prefix = "dry run: " if self.opts.dry_run else ""
        _log(self.state, level, prefix + message, self.company.name, self.run_id,
             {"integration": self.integ.name, **(data or {})})

    def prepare(self, housekeeping: Housekeeping) -> None:
        """Leftovers, the mark, added columns and the settings, before any step (what the
        quiet check holds again for a pass with nothing to do: sync/quiet.py)."""
        exports = self.integ.export
        if not self.opts.dry_run:
            try:
                removed = self.endpoint.remove_leftovers(housekeeping.locked_at,
                                                         housekeeping.keep)
            except Exception as exc:  # noqa: BLE001 - housekeeping never stops a pass
                removed = []
                self.log("warning", f"temporary files of an interrupted pass in "
                                    f"{self.endpoint.display} not removed: {error_text(exc)}")
            if removed:
                self.log("info", f"removed {len(removed)} temporary file(s) an interrupted "
                                 f"pass left in {self.endpoint.display}",
                         {"removed": removed[:50]})
        try:
            known = identity.load(self.state, self.integ.id)
            marks = self.endpoint.read_marks()
            self.verdict = identity.judge(
                known, marks, lambda: identity.has_sent(self.state, self.integ.id),
                self.endpoint.holds_data,
            )
        except Exception as exc:  # noqa: BLE001 - the steps report an unusable endpoint
            self.verdict = None
            self.log("warning", f"optsync's mark in {self.endpoint.display} cannot be read: "
                                f"{error_text(exc)}; it is checked again next pass")
        verdict = self.verdict
        if verdict is not None and verdict.resend:
            self.full_for = set(exports)
            self.log("warning", f"{verdict.reason}: everything of integration "
                                f"{self.integ.name} is sent again",
                     {"event": "resend", "reason": verdict.reason})
        elif verdict is not None and verdict.adopted:
            self.log("info", f"the endpoint {self.endpoint.display} of integration "
                             f"{self.integ.name}, written by an earlier optsync, is adopted "
                             f"as it is", {"event": "adopted"})
        if verdict is not None and verdict.resend and verdict.new and not self.opts.dry_run:
            # Until the re-send completes, the endpoint must never be adopted as it is.
            identity.save(self.state, self.integ.id, verdict.known)
        if not self.opts.dry_run and exports:
            self._upgrade()
        self._check_settings()

    def _upgrade(self) -> None:
        try:
            added = self.endpoint.upgrade()
        except Exception as exc:  # noqa: BLE001 - the export steps report it
            self.log("warning", f"exchange tables of {self.endpoint.display} not checked: "
                                f"{error_text(exc)}")
            return
        if not added:
            return
        grown = {self._entity_of(name.split(".", 1)[0]) for name in added}
        self.full_for |= {e for e in self.integ.export if e in grown}
        self.log("info", f"columns added to the exchange tables of {self.endpoint.display}: "
                         f"{', '.join(added)}; those entities are sent again",
                 {"event": "columns-added", "columns": added})

    @staticmethod
    def _entity_of(table: str) -> str | None:
        """The exported entity an outbound exchange table belongs to (None for an inbox)."""
        for spec in ENTITIES.values():
            if table in (spec.outbound_table, spec.outbound_lines_table):
                return spec.name
        return None

    def _check_settings(self) -> None:
        wanted = set(self.opts.entities) if self.opts.entities else None
        needed = [e for e in self.integ.export if ENTITIES[e].setting
                  and self.opts.only in (None, "export") and (wanted is None or e in wanted)]
        if not needed:
            return
        try:
            with self.optima.connect() as conn:
                problems = setting_problems(conn, self.tables, self.integ.price_list,
                                            self.integ.warehouse)
        except Exception as exc:  # noqa: BLE001 - the steps themselves report the database
            self.log("warning", f"price list and warehouse not checked: {error_text(exc)}")
            return
        command = shlex.join(["optsync", "integration", "remove", self.integ.name,
                              "--company", self.company.name])
        fix = f"remove the integration ({command}) and add it again with a valid value"

        for entity, problem in problems.items():
            self.settings[entity] = f"{problem}; {fix}"

    def export(self, entity: str) -> Step:
        if entity in self.settings:
            return _failed(self.integ.name, entity, "export", self.settings[entity])
        resend = entity in self.full_for
        old: set[str] = set()
        if resend and not self.opts.dry_run:
            old = set(identity.forget(self.state, self.integ.id, entity))
        with self.optima.connect() as conn:
            step = run_export(ExportJob(
                self.state, conn, self.tables, self.endpoint, self.integ.id, self.integ.name,
                entity, self.run_id, full=self.opts.full or resend, dry_run=self.opts.dry_run,
                price_list=self.integ.price_list, warehouse=self.integ.warehouse,
                progress=self.opts.on_rows, fingerprints=self.fingerprints,
            ))
        if resend and not self.opts.dry_run and step.status != "failed":
            step.deleted += self._delete_stale(entity, old)
        return step

    def _delete_stale(self, entity: str, old: set[str]) -> int:
        """After sending everything again: mark deleted what the endpoint still shows or the
        state database had sent, and Optima no longer has."""
        key_of = key_function(entity)
        names = ENTITIES[entity].key
        candidates = set(old)
        live = self.endpoint.live_keys(entity)
        if live is not None:
            candidates.update(key_of(dict(zip(names, key))) for key in live)
        if not candidates:
            return 0
        candidates -= set(syncstate.stored_keys(self.state, self.integ.id, entity))
        if candidates:
            self.endpoint.write(entity, [], [key_values(entity, k) for k in sorted(candidates)],
                                run_id=self.run_id)
        return len(candidates)

    def ended(self, step: Step) -> None:
        if step.direction == "export" and step.status == "failed":
            self.failed_exports.add(step.entity)

    def finish(self, planned: list[tuple[str, str]]) -> bool:
        """Mark the endpoint with this run, unless a needed re-send is not complete yet;
        whether it is marked."""
        verdict = self.verdict
        if self.opts.dry_run or verdict is None or verdict.known is None:
            return False
        if verdict.resend:
            exported = {e for d, e in planned if d == "export"}
            missing = (set(self.integ.export) - exported) | self.failed_exports
            if missing:
                self.log("warning", f"the endpoint of integration {self.integ.name} is not "
                                    f"marked: {', '.join(sorted(missing))} not sent again yet; "
                                    f"the next pass sends everything again",
                         {"event": "resend-pending", "entities": sorted(missing)})
                return False
        mark = identity.endpoint_mark(verdict.known, self.run_id, self.company.name,
                                      self.integ.name)
        try:
            identity.record(self.state, self.integ.id, verdict.known, mark,
                            self.endpoint.write_mark)
        except Exception as exc:  # noqa: BLE001 - the data is there; only the mark is late
            if not verdict.resend and verdict.new:
                identity.drop(self.state, self.integ.id)  # judged afresh next pass
            self.log("warning", f"optsync's mark not written to {self.endpoint.display}: "
                                f"{error_text(exc)}; the next pass writes it again",
                     {"event": "mark-failed"})
            return False
        return True


def _planned(integ: cfg.Integration, opts: PassOptions) -> list[tuple[str, str]]:
    planned = []
    if opts.only in (None, "export"):
        planned += [("export", e) for e in integ.export]
    if opts.only in (None, "import"):
        planned += [("import", e) for e in integ.import_]
    if opts.entities:
        planned = [(d, e) for d, e in planned if e in opts.entities]
    return planned


def _failed(integration: str, entity: str, direction: str, error: str) -> Step:
    return Step(integration, entity, direction, status="failed", error=error)


def _note(state: State, company: cfg.Company, run_id: int, step: Step, opts: PassOptions,
          rejected: list | None = None) -> None:
    """Log a step (and each rejected record) and tell the progress display."""
    level, message, data = journal.step_done(step, opts)
    _log(state, level, message, company.name, run_id, data)
    if rejected:
        logs.write_many(state, [
            {"level": "warning", "category": "sync", "company": company.name,
             "run_id": run_id,
             "message": f"{step.entity} {r.label} from {step.integration} rejected: {r.reason}",
             "data": {"integration": step.integration, "entity": step.entity,
                      "record": r.label, "reason": r.reason}}
            for r in rejected
        ])
    if opts.on_step is not None:
        opts.on_step(step)
