"""``optsync status``: the service section, collected as data (the CLI draws it).

The service section: OS entries, the cron daemon, and each company's passes.

What ``status --check`` counts as a problem (exit 1), each printed with the command that fixes
it: enabled schedules with no OS entries installed anywhere; entries on this host that are
missing or differ from the schedules (drift); a company whose last pass ended ``failed``;
entries that cannot be read; a last pass ``interrupted`` (its process ended without finishing
it: killed, crashed, power lost; found and set here, or by the next pass); and no cron daemon
running while entries sit in this host's user crontab (they would never fire). Only worth a
note, never exit 1: a last pass ``partial`` (some records were rejected; ``run`` already
exited 1 for it, and passing again does not fix data), a last pass that sent everything again
to an endpoint that was deleted, replaced or restored, entries installed on another host
(checked there), and no cron daemon when entries sit in a ``--crontab FILE`` (whatever loads
that file runs it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optsync import clock
from optsync.clock import hostname
from optsync.errors import OptsyncError
from optsync.schedule.backend import Entry
from optsync.schedule.daemon import START_HINT, cron_daemon_running
from optsync.schedule.registry import auto_name
from optsync.secrets import first_line, redact
from optsync.services import hints
from optsync.services import schedules as service
from optsync.state import config as cfg
from optsync.state import logs
from optsync.state.db import State, iso
from optsync.state.locks import holder
from optsync.state.runs import last_runs, settle_interrupted


@dataclass
class Report:
    """The service's state on this host; ``problems`` make ``status --check`` exit 1."""

    host: str
    backend: str
    installs: list[dict[str, Any]]
    in_sync: bool | None
    daemon_running: bool | None
    companies: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host, "backend": self.backend, "installs": self.installs,
            "in_sync": self.in_sync, "daemon_running": self.daemon_running,
            "companies": self.companies, "problems": self.problems, "notes": self.notes,
        }




def _install_hint(state: State, backend: str, target: str) -> str:
    return hints.install(state, None if backend == auto_name() else backend,
                         target if backend == "cron" and target != service.USER_CRONTAB else None)


def collect(
    state: State, *, backend: str = "auto", crontab: Path | None = None, runner=None
) -> Report:
    """The service section: installs, drift, the cron daemon and each company's passes.

    The installed entries checked are this host's install records; ``backend``/``crontab``
    (or ``runner`` for Windows) name one target to check instead.
    """
    here = hostname()
    records = service.active_installs(state)
    wanted = service.entries(state)
    if backend != "auto" or crontab is not None:
        chosen = service.backend_for(backend, crontab, runner)
        target = str(crontab.absolute()) if crontab is not None else chosen.target
        targets = [(chosen.name, target)]
    else:
        targets = [(r.backend, r.target) for r in records if r.host == here]
    in_use = (
        targets[0][0] if targets else records[0].backend if records
        else auto_name()
    )
    report = Report(
        host=here, backend=in_use, installs=[_install_json(r) for r in records],
        in_sync=None, daemon_running=None, companies=[],
    )
    report.in_sync = _check_targets(state, report, targets, wanted, runner)
    if not targets and wanted:
        _nothing_here(state, report, records, here, len(wanted))
    if in_use == "cron":
        report.daemon_running = cron_daemon_running()
        _daemon_problem(report, [t for b, t in targets if b == "cron"])
    report.companies = _companies(state, report)
    return report


def _install_json(record: service.InstallRecord) -> dict[str, Any]:
    return {
        "host": record.host, "backend": record.backend, "target": record.target,
        "installed_at": iso(record.installed_at), "entries": record.entries,
    }


def _check_targets(
    state: State, report: Report, targets: list[tuple[str, str]], wanted: list[Entry], runner
) -> bool | None:
    """Compare each target's installed entries with what install would write."""
    install_id = state.install_id()
    results: list[bool | None] = []
    for name, target in targets:
        if name == "external":
            continue  # no OS entries to compare; an outside scheduler runs 'run --due'
        fix = _install_hint(state, name, target)
        try:
            chosen = service.backend_for(name, target, runner)
            installed = chosen.installed(install_id)
            planned = chosen.render(service.entries(state, chosen.name), install_id)
        except Exception as exc:  # noqa: BLE001 - reported, never a crash of status
            why = redact(exc.what) if isinstance(exc, OptsyncError) else first_line(exc)
            report.problems.append(
                f"cannot read the entries in {target} ({name}): {why}; "
                f"run 'optsync doctor'"
            )
            results.append(None)
            continue
        if installed == planned:
            results.append(True)
        elif not installed:
            report.problems.append(
                f"no OS entries in {target} ({name}) for {len(wanted)} enabled "
                f"schedule(s); run {fix}"
            )
            results.append(False)
        elif owner := service.other_home(state, chosen, install_id):
            crontab = None if name != "cron" or target == service.USER_CRONTAB else Path(target)
            report.problems.append(
                f"{service.ownership_problem(state, target, owner)}; run "
                f"{service.take_over_hint(state, name, crontab)} to make them this home's own"
            )
            results.append(False)
        else:
            report.problems.append(
                f"the entries in {target} ({name}) differ from the schedules (drift); "
                f"run {fix}"
            )
            results.append(False)
    if not results:
        return None
    if False in results:
        return False
    return None if None in results else True


def _nothing_here(
    state: State, report: Report, records: list[service.InstallRecord], here: str, count: int
) -> None:
    """Enabled schedules, no install record on this host: missing, elsewhere or external."""
    if any(r.backend == "external" for r in records):
        return
    hosts = sorted({r.host for r in records if r.host != here})
    if hosts:
        report.notes.append(
            f"entries are installed on host {', '.join(hosts)}; run "
            f"'optsync status' there to check them"
        )
        return
    report.problems.append(
        f"{count} enabled schedule(s) but no OS entries are installed; "
        f"run {hints.install(state)}"
    )


def _daemon_problem(report: Report, cron_targets: list[str]) -> None:
    if report.daemon_running is not False or not cron_targets:
        return
    if service.USER_CRONTAB in cron_targets:
        report.problems.append(
            f"no cron daemon runs on host {report.host}, so the entries never fire; "
            f"start cron: '{START_HINT}'"
        )
    else:
        report.notes.append(
            f"no cron daemon runs on host {report.host}; the entries in "
            f"{', '.join(cron_targets)} fire only where that file is loaded"
        )


def _companies(state: State, report: Report) -> list[dict[str, Any]]:
    now = clock.local_now()
    schedules = cfg.get_schedules(state)
    gone = {r.id: r for r in settle_interrupted(state)}
    last = last_runs(state)
    for run in last.values():  # a read-only state database could not record it
        if run.id in gone:
            run.status = gone[run.id].status
    rows = []
    for company in cfg.list_companies(state):
        schedule = schedules.get(company.id)
        enabled = bool(schedule and schedule.enabled)
        nxt = schedule.next_start(now) if schedule and enabled else None
        run = last.get(company.id)
        lock = holder(state, company.id)
        rows.append({
            "name": company.name, "enabled": enabled,
            "last_run": run.as_json() if run else None,
            "next_run": nxt.isoformat(timespec="seconds") if nxt else None,
            "running": {"host": lock.host, "pid": lock.pid, "run_id": lock.run_id,
                        "since": iso(lock.acquired_at)} if lock else None,
        })
        if run is None:
            continue
        logs_hint = hints.sync_logs(state, company.name)
        when = iso(run.started_at)
        if run.status == "failed":
            reason = f" ({run.reason})" if run.reason else ""
            report.problems.append(
                f"the last pass of {company.name} failed at {when}{reason}; see {logs_hint}"
            )
        elif run.status == "partial":
            report.notes.append(
                f"the last pass of {company.name} at {when} was partial (records "
                f"rejected); see {logs_hint}"
            )
        elif run.status == "interrupted":
            report.problems.append(
                f"the last pass of {company.name}, started at {when} (pid {run.pid} on "
                f"{run.host}), was interrupted: its process ended without finishing it "
                f"(killed, crashed or power lost); the next pass sends what it did not; "
                f"see {logs_hint}"
            )
        for reason in _resends(state, run.id):
            report.notes.append(
                f"the last pass of {company.name} at {when} sent everything again: {reason}; "
                f"see {logs_hint}"
            )
    return rows


def _resends(state: State, run_id: int | None) -> list[str]:
    """Why a run sent everything again to an endpoint (from its warnings in the log)."""
    if run_id is None:
        return []
    found = []
    for record in logs.query(state, category="sync", run_id=run_id, min_level="warning",
                             limit=200):
        data = record.data if isinstance(record.data, dict) else {}
        if data.get("event") == "resend":
            found.append(f"integration {data.get('integration')}: {data.get('reason')}")
    return found
