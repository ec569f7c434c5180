"""Schedules meet the OS: install, uninstall, reconcile after a change, drift, listing.

The state database records every install (host, backend, target, install id, hash), so a
change made on one host can rewrite that host's entries at once and warn about the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from optsync.home import hostname, is_default_home
from optsync.schedule.backend import Entry, SchedulerBackend, optsync_command, resolve_backend
from optsync.state import config as cfg
from optsync.state import logs
from optsync.state import tables as t
from optsync.state.db import State, utcnow

USER_CRONTAB = "user crontab"


@dataclass
class InstallResult:
    backend: str
    target: str
    entries: int
    changed: bool
    rendered: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class InstallRecord:
    host: str
    backend: str
    target: str
    install_id: str
    installed_at: datetime
    content_hash: str
    entries: int


def command_for(state: State, company_name: str) -> list[str]:
    """The absolute command an OS entry runs for one company."""
    argv = optsync_command()
    if not is_default_home(state.home):
        argv += ["--home", str(state.home)]
    return argv + ["run", "--company", company_name, "--scheduled"]


def entries(state: State) -> list[Entry]:
    """One entry per company with an enabled schedule."""
    schedules = cfg.get_schedules(state)
    log_path = state.home / "logs" / "cron.log"
    result = []
    for company in cfg.list_companies(state):
        schedule = schedules.get(company.id)
        if schedule is None or not schedule.enabled:
            continue
        result.append(
            Entry(
                company_key=str(company.id), company_name=company.name, schedule=schedule,
                argv=command_for(state, company.name), log_path=log_path, workdir=state.home,
            )
        )
    return result


def backend_for(name: str, target: str | Path | None = None, runner=None) -> SchedulerBackend:
    """The backend an install record (or ``--backend``/``--crontab``) names, ready to read."""
    return _backend(name, target, runner)


def _backend(name: str, target: str | Path | None, runner=None) -> SchedulerBackend:
    crontab = None if target in (None, USER_CRONTAB) else Path(target)
    if name == "cron" or (name == "auto" and crontab is not None):
        return resolve_backend("cron", crontab_file=crontab)
    return resolve_backend(name, crontab_file=crontab, runner=runner)


def _target_key(backend: SchedulerBackend, crontab: Path | None) -> str:
    if backend.name == "cron":
        return str(crontab.absolute()) if crontab else USER_CRONTAB
    return backend.target


def install(
    state: State, backend_name: str = "auto", *, crontab: Path | None = None,
    dry_run: bool = False, runner=None,
) -> InstallResult:
    """Write entries for every enabled schedule; with ``dry_run`` only compare (drift)."""
    backend = _backend(backend_name, crontab, runner)
    install_id = state.install_id()
    wanted = entries(state)
    rendered = backend.render(wanted, install_id)
    target = _target_key(backend, crontab)
    if dry_run:
        changed = backend.installed(install_id) != rendered
        return InstallResult(backend.name, target, len(wanted), changed, rendered)
    if wanted and backend.name == "cron":
        (state.home / "logs").mkdir(parents=True, exist_ok=True)
    changed = backend.install(wanted, install_id)
    _record(state, backend.name, target, install_id, rendered, len(wanted), active=True)
    warnings = environment_warnings(state) if wanted and backend.name != "external" else []
    logs.write(
        state, "info", "schedule",
        f"{len(wanted)} entries {'installed' if changed else 'already installed'} in "
        f"{target} ({backend.name}) on {hostname()}",
        data={"backend": backend.name, "target": target, "host": hostname(),
              "changed": changed, "companies": [e.company_name for e in wanted]},
    )
    return InstallResult(backend.name, target, len(wanted), changed, rendered, warnings)


def environment_warnings(state: State) -> list[str]:
    """What this shell has that OS entries will not: cron and Task Scheduler pass no OPTSYNC_*."""
    import os

    from optsync.home import read_settings

    warnings = []
    env_url = os.environ.get("OPTSYNC_STATE_URL")
    if env_url and read_settings(state.home).get("state_url") != env_url:
        warnings.append(
            "the state database comes from $OPTSYNC_STATE_URL, which scheduled passes will "
            f"not see; put state_url in {state.home / 'optsync.toml'}"
        )
    if os.environ.get("OPTSYNC_SECRET_KEY") and not (state.home / "secret.key").exists():
        warnings.append(
            "the secret key comes from $OPTSYNC_SECRET_KEY, which scheduled passes will not "
            f"see; write it to {state.home / 'secret.key'} (mode 0600)"
        )
    return warnings


def uninstall(
    state: State, backend_name: str = "auto", *, crontab: Path | None = None, runner=None
) -> InstallResult:
    """Remove every entry of this home's install id from the target, and record that."""
    backend = _backend(backend_name, crontab, runner)
    install_id = state.install_id()
    changed = backend.uninstall(install_id)
    target = _target_key(backend, crontab)
    _record(state, backend.name, target, install_id, "", 0, active=False)
    logs.write(
        state, "info", "schedule",
        f"entries {'removed from' if changed else 'were not in'} {target} ({backend.name}) "
        f"on {hostname()}",
        data={"backend": backend.name, "target": target, "host": hostname()},
    )
    return InstallResult(backend.name, target, 0, changed)


def _record(state: State, backend: str, target: str, install_id: str, rendered: str,
            count: int, *, active: bool) -> None:
    digest = hashlib.sha256(rendered.encode()).hexdigest()
    host = hostname()
    with state.engine.begin() as conn:
        conn.execute(
            t.installs.update()
            .where(t.installs.c.host == host, t.installs.c.backend == backend,
                   t.installs.c.target == target, t.installs.c.install_id == install_id,
                   t.installs.c.active.is_(True))
            .values(active=False)
        )
        if active:
            conn.execute(t.installs.insert().values(
                host=host, backend=backend, target=target, install_id=install_id,
                installed_at=utcnow(), content_hash=digest, entries=count, active=True,
            ))


def active_installs(state: State) -> list[InstallRecord]:
    """Installs in force, of this state database's install id, on every host."""
    install_id = state.install_id()
    with state.engine.connect() as conn:
        rows = conn.execute(
            select(t.installs)
            .where(t.installs.c.active.is_(True), t.installs.c.install_id == install_id)
            .order_by(t.installs.c.host, t.installs.c.id)
        ).all()
    return [
        InstallRecord(r.host, r.backend, r.target, r.install_id, r.installed_at,
                      r.content_hash, r.entries)
        for r in rows
    ]


def reconcile(state: State) -> tuple[str | None, str | None]:
    """After a change: rewrite this host's entries, warn about other hosts'. (note, warning)"""
    records = active_installs(state)
    if not records:
        return None, None
    here = hostname()
    notes = []
    for rec in records:
        if rec.host != here or rec.backend == "external":
            continue
        crontab = None if rec.target == USER_CRONTAB else Path(rec.target)
        if not install(state, rec.backend, crontab=crontab, dry_run=True).changed:
            continue
        result = install(state, rec.backend, crontab=crontab)
        if result.changed:
            notes.append(f"OS entries rewritten in {result.target} ({result.backend})")
    elsewhere = sorted({r.host for r in records if r.host != here and r.backend != "external"})
    warning = None
    if elsewhere:
        warning = (
            f"entries are installed on host {', '.join(elsewhere)}; "
            "run 'optsync schedule install' there"
        )
    return ("; ".join(notes) or None), warning


def schedule_rows(state: State, now: datetime | None = None) -> list[dict]:
    """``schedule list``: every company, those without a schedule as disabled (SPEC 2.9)."""
    from optsync.manage import schedule_json
    from optsync.schedule.model import Schedule
    from optsync.state.runs import last_runs

    now = now or datetime.now().astimezone()
    schedules = cfg.get_schedules(state)
    last = last_runs(state)
    rows = []
    for company in cfg.list_companies(state):
        schedule = schedules.get(company.id) or Schedule(enabled=False)
        nxt = schedule.next_start(now) if schedule.enabled else None
        run = last.get(company.id)
        rows.append({
            "company": company.name, **schedule_json(schedule),
            "last_run": run.as_json() if run else None,
            "next_run": nxt.isoformat(timespec="seconds") if nxt else None,
        })
    return rows
