"""One pass of a company, and the choice of companies for ``--all`` / ``--due`` (SPEC 2.6).

Order of checks before any work: operator set (78), operator allowed in Optima (78),
company lock (75, or skipped under ``--all``/``--due``). Then, per integration in name order,
every export step, then every import step; one failing step does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from optsync.errors import ConfigError, ExitCode, OptsyncError, Unreachable
from optsync.secrets import redact
from optsync.state import config as cfg
from optsync.state import locks, logs, runs
from optsync.state.db import State
from optsync.sync.steps import Step, run_status


@dataclass
class PassOptions:
    trigger: str = "manual"  # manual | scheduled | due
    scheduled: bool = False
    dry_run: bool = False
    full: bool = False
    only: str | None = None  # export | import
    entities: set[str] = field(default_factory=set)
    wait: float = 0.0
    on_start: Callable[[str], None] | None = None  # progress for people: a step begins
    on_step: Callable[[Step], None] | None = None  # progress for people: a step ended

    @property
    def complete(self) -> bool:
        """Whether this pass does everything a scheduled one would (and so serves --due)."""
        return not (self.dry_run or self.only or self.entities)


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


def run_company(state: State, name: str, opts: PassOptions, *, now: datetime | None = None,
                company: cfg.Company | None = None) -> runs.Run:
    """Run (or skip) one pass of a company; raise for what stops it before it starts."""
    company = company or cfg.get_company(state, name)
    if opts.scheduled:
        schedule = cfg.get_schedule(state, company.id)
        now = now or datetime.now().astimezone()
        if schedule is None or not schedule.in_window(now):
            why = "no enabled schedule" if schedule is None or not schedule.enabled else (
                "outside its window or days")
            return _skip(state, company, opts, "not-scheduled", why)

    try:
        op_info, integrations = _preflight(state, company)
    except OptsyncError as exc:
        _refused(state, company, opts, exc)
        raise

    lease = locks.acquire(state, company.id, opts.wait)
    if lease is None:
        held = locks.holder(state, company.id)
        where = f" by pid {held.pid} on {held.host}" if held else ""
        return _skip(state, company, opts, "locked", f"another pass holds the lock{where}")
    try:
        if opts.trigger == "due":
            from optsync.sync.due import still_due

            if not still_due(state, company):  # served by another host since it was chosen
                return _skip(state, company, opts, "locked",
                             "another pass served it since it was found due")
        run = runs.start(state, company.id, company.name, opts.trigger, complete=opts.complete)
        lease.set_run(run.id)
        lease.keep_alive()
        _log(state, "info", f"pass of {company.name} started ({opts.trigger})", company.name,
             run.id, {"trigger": opts.trigger, "dry_run": opts.dry_run, "full": opts.full})
        try:
            steps = _work(state, company, integrations, op_info, run.id, opts, lease)
        except BaseException as exc:  # a run never stays "running" after its process
            run.status, run.reason = "failed", None
            run.steps = []
            runs.finish(state, run)
            why = exc.message if isinstance(exc, OptsyncError) else type(exc).__name__
            _log(state, "error", f"pass of {company.name} failed: {redact(why)}",
                 company.name, run.id)
            exc.run = run  # type: ignore[attr-defined]  # recorded already: --all reports it
            raise
        run.steps = [s.as_json() for s in steps]
        run.status = run_status(steps)
        runs.finish(state, run)
        level = "info" if run.status == "ok" else "warning"
        _log(state, level, f"pass of {company.name} ended {run.status}", company.name, run.id,
             {"status": run.status, "steps": len(steps),
              "written": sum(s.written for s in steps),
              "rejected": sum(s.rejected for s in steps)})
        return run
    finally:
        lease.release()


REASONS = {ExitCode.UNAVAILABLE: "unreachable", ExitCode.CONFIG: "config"}


def _preflight(state: State, company: cfg.Company):
    """What must hold before any work (SPEC 2.6): an operator Optima accepts, integrations."""
    operator = cfg.get_operator(state)
    if operator is None:
        raise ConfigError("no operator is set", "Run 'optsync operator set ACRONYM' first")
    integrations = cfg.list_integrations(state, company)
    if not integrations:
        raise ConfigError(
            f"company {company.name!r} has no integrations",
            f"Add one with 'optsync integration add --company {company.name!r} ...'",
        )
    return _check_operator(state, company, operator.acronym), integrations


def _refused(state: State, company: cfg.Company, opts: PassOptions, exc: OptsyncError) -> None:
    """Record a pass that could not start as a failed run, so logs and status show it."""
    run = runs.start(state, company.id, company.name, opts.trigger, status="failed",
                     reason=REASONS.get(exc.exit_code, "error"))
    _log(state, "error", f"pass of {company.name} not started: {exc.message}", company.name,
         run.id, {"reason": run.reason})
    exc.run = run  # type: ignore[attr-defined]


def _check_operator(state: State, company: cfg.Company, acronym: str):
    """The operator as Optima knows it; checked where the configuration database is known."""
    from optsync.optima.operator import OperatorInfo, check_operator

    config_url = company.real_config_db_url(state)
    if config_url is None:
        return OperatorInfo(None, acronym, acronym)
    from optsync import dburl

    engine = dburl.engine_for(config_url)
    try:
        with engine.connect() as conn:
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
            f"({type(exc).__name__}: {redact(str(exc).splitlines()[0] if str(exc) else '')})",
            "Check that it runs, or run 'optsync doctor'",
        ) from None
    finally:
        engine.dispose()
    cfg.mark_operator_verified(state, True)
    return info


def _database_name(url: str) -> str | None:
    """The database a company URL names (a SQLite file's stem), as CDN.Bazy lists it."""
    from optsync.dburl import database_name

    return database_name(url)


def _work(state: State, company: cfg.Company, integrations: list[cfg.Integration], op_info,
          run_id: int, opts: PassOptions, lease: locks.Lease) -> list[Step]:
    from optsync import dburl
    from optsync.endpoints import load_endpoint
    from optsync.optima.tables import tables_for
    from optsync.optima.writer import OptimaWriter
    from optsync.sync.export import ExportJob, run_export
    from optsync.sync.imports import ImportJob, run_import

    db_url = company.real_db_url(state)
    dburl.connect_check(db_url, f"the database of company {company.name!r}")
    optima = dburl.engine_for(db_url)
    steps: list[Step] = []
    password = cfg.operator_password(state)
    try:
        tables = tables_for(optima)
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
                    steps.append(_failed(integ.name, entity, direction, redact(exc.message)))
                    _note(state, company, run_id, steps[-1], opts)
                continue
            try:
                writer = OptimaWriter(optima, tables, op_info, namespace=integ.name,
                                      warehouse=integ.warehouse)
                for direction, entity in planned:
                    if not lease.renew():  # another pass took over: never run side by side
                        steps.append(_failed(integ.name, entity, direction,
                                             "the company lock was lost; the step did not run"))
                        _note(state, company, run_id, steps[-1], opts)
                        continue
                    if opts.on_start is not None:
                        opts.on_start(f"{company.name}: {direction} {entity} ({integ.name})")
                    try:
                        if direction == "export":
                            with optima.connect() as conn:
                                step = run_export(ExportJob(
                                    state, conn, tables, endpoint, integ.id, integ.name,
                                    entity, run_id, full=opts.full, dry_run=opts.dry_run,
                                    price_list=integ.price_list, warehouse=integ.warehouse,
                                ))
                            _note(state, company, run_id, step, opts)
                        else:
                            rejected: list = []
                            step = run_import(ImportJob(endpoint, writer, integ.name, entity,
                                                        dry_run=opts.dry_run), rejected)
                            _note(state, company, run_id, step, opts, rejected)
                    except Exception as exc:  # one failing step never stops the others
                        reason = exc.message if isinstance(exc, OptsyncError) else (
                            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                        step = _failed(integ.name, entity, direction, redact(reason)[:500])
                        _note(state, company, run_id, step, opts)
                    steps.append(step)
            finally:
                endpoint.close()
    finally:
        optima.dispose()
    return steps


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
    level = {"ok": "info", "partial": "warning", "failed": "error"}[step.status]
    prefix = "dry run: " if opts.dry_run else ""
    _log(state, level, prefix + step.summary(), company.name, run_id, step.as_json())
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
