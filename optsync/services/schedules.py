"""Schedules meet the OS: install, uninstall, reconcile after a change, drift, listing.

The state database records every install (host, backend, target, install id, hash), so a
change made on one host can rewrite that host's entries at once and warn about the others.

Entries belong to one home. The install id lives in the state database, so a copy of a home
(``cp -a``) or a home moved elsewhere carries the same id as the entries it did not write.
What tells them apart survives neither a copy nor a move: the entries themselves name the
home they start passes of (``--home`` on a cron line, the working directory of a task).
Entries of this install id naming another home are never touched, unless
``schedule install --take-over`` makes them this home's own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from optsync import clock
from optsync.clock import hostname
from optsync.errors import BadInput, ConfigError
from optsync.home import is_default_home, read_settings
from optsync.names import name_problem
from optsync.schedule.backend import Entry, SchedulerBackend, optsync_command
from optsync.schedule.model import Schedule
from optsync.schedule.registry import auto_name, resolve_backend
from optsync.services import hints
from optsync.state import config as cfg
from optsync.state import logs
from optsync.state import tables as t
from optsync.state.db import State, utcnow
from optsync.state.runs import last_runs

USER_CRONTAB = "user crontab"


@dataclass
class InstallResult:
    backend: str
    target: str
    entries: int
    changed: bool
    rendered: str = ""
    warnings: list[str] = field(default_factory=list)
    taken_over_from: str | None = None  # the home whose entries --take-over made this one's


@dataclass
class InstallRecord:
    host: str
    backend: str
    target: str
    install_id: str
    installed_at: datetime
    content_hash: str
    entries: int


def command_for(state: State, company: cfg.Company, *, by_key: bool = False) -> list[str]:
    """The absolute command an OS entry runs for one company.

    Cron lines name the company (quoted for sh, ``%`` escaped for cron), so a reader sees
    which company a line serves; a name stored by an older optsync that breaks today's name
    rule, and every Windows task (Task Scheduler expands ``%NAME%`` and has no escape), name
    it by its key instead.
    """
    home = None if is_default_home(state.home) else state.home
    named = None if by_key or name_problem(company.name) is not None else company.name
    return optsync_command() + hints.scheduled_run(home, str(company.id), named)


def entries(state: State, backend: str = "cron") -> list[Entry]:
    """One entry per company with an enabled schedule, as ``backend`` will run it."""
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
                argv=command_for(state, company, by_key=backend == "windows"),
                log_path=log_path, workdir=state.home,
            )
        )
    return result


def same_home(written: str, home: Path) -> bool:
    """Whether a home named in an entry is ``home`` (the same folder, by any spelling)."""
    if os.path.normcase(os.path.realpath(written)) == os.path.normcase(os.path.realpath(home)):
        return True
    try:
        return os.path.samefile(written, home)
    except OSError:
        return False


def other_home(state: State, backend: SchedulerBackend, install_id: str) -> str | None:
    """The home that this install id's entries in the target serve, when it is not this one."""
    others = sorted(h for h in backend.installed_homes(install_id)
                    if not same_home(h, state.home))
    return others[0] if others else None


def ownership_problem(state: State, target: str, owner: str) -> str:
    """One line saying whose entries these are and that they were left alone."""
    held = Path(owner)
    if (held / "state.db").exists() or (held / "optsync.toml").exists():
        how = f"this home {state.home} is a copy of it"
    else:
        how = f"which no longer exists: this home {state.home} was moved or copied from there"
    return f"the OS entries in {target} start passes of the home {owner} ({how})"


def take_over_hint(state: State, backend: str, crontab: Path | None) -> str:
    """The install that makes entries written by another home this home's own."""
    named = None if backend in ("auto", auto_name()) else backend
    return hints.install(state, named, crontab, take_over=True)


def backend_for(name: str, target: str | Path | None = None, runner=None) -> SchedulerBackend:
    """The backend an install record (or ``--backend``/``--crontab``) names, ready to read."""
    return _backend(name, target, runner)


def _backend(name: str, target: str | Path | None, runner=None,
             run_as: tuple[str, str] | None = None) -> SchedulerBackend:
    crontab = None if target in (None, USER_CRONTAB) else Path(target)
    if name == "cron" or (name == "auto" and crontab is not None):
        chosen = resolve_backend("cron", crontab_file=crontab)
    else:
        chosen = resolve_backend(name, crontab_file=crontab, runner=runner, run_as=run_as)
    if run_as is not None and chosen.name != "windows":
        raise BadInput(f"{hints.RUN_AS} is for Windows tasks, not the {chosen.name} backend",
                       hints.LEAVE_OUT_RUN_AS)
    return chosen


def _target_key(backend: SchedulerBackend, crontab: Path | None) -> str:
    if backend.name == "cron":
        return str(crontab.absolute()) if crontab else USER_CRONTAB
    return backend.target


def install(
    state: State, backend_name: str = "auto", *, crontab: Path | None = None,
    dry_run: bool = False, runner=None, take_over: bool = False,
    run_as: tuple[str, str] | None = None,
) -> InstallResult:
    """Write entries for every enabled schedule; with ``dry_run`` only compare (drift).

    Entries of this install id that serve another home (this one is a copy, or was moved)
    are refused unless ``take_over``. ``run_as`` (account, password) makes Windows tasks run
    as that account; the password goes to schtasks only.
    """
    backend = _backend(backend_name, crontab, runner, run_as)
    install_id = state.install_id()
    wanted = entries(state, backend.name)
    rendered = backend.render(wanted, install_id)
    target = _target_key(backend, crontab)
    owner = other_home(state, backend, install_id)
    if dry_run:
        changed = backend.installed(install_id) != rendered
        warnings = [ownership_problem(state, target, owner)] if owner else []
        return InstallResult(backend.name, target, len(wanted), changed, rendered, warnings)
    if owner is not None and not take_over:
        raise ConfigError(
            ownership_problem(state, target, owner) + "; nothing written",
            f"Run {take_over_hint(state, backend_name, crontab and crontab.absolute())} to "
            f"make them this home's own, or {hints.keep_elsewhere(owner)}",
        )
    if wanted and backend.name == "cron":
        (state.home / "logs").mkdir(parents=True, exist_ok=True)
    before = _password_account(backend, install_id) if run_as is None else None
    changed = backend.install(wanted, install_id)
    _record(state, backend.name, target, install_id, rendered, len(wanted), active=True)
    warnings = environment_warnings(state) if wanted and backend.name != "external" else []
    account = getattr(backend, "principal", None)
    if before is not None and changed and account is not None:
        warnings.append(
            f"the tasks ran as {before} with a password and now run as {account.user} "
            f"without one (S4U: no network shares); run {_run_as_hint(state, before)} to "
            "go back"
        )
    data = {"backend": backend.name, "target": target, "host": hostname(),
            "changed": changed, "companies": [e.company_name for e in wanted]}
    if account is not None:
        data["run_as"] = {"user": account.user, "logon": account.logon}
    if owner is not None:
        data["taken_over_from"] = owner
        logs.write(state, "warning", "schedule",
                   f"OS entries in {target} taken over from the home {owner}", data=data)
    logs.write(
        state, "info", "schedule",
        f"{len(wanted)} entries {'installed' if changed else 'already installed'} in "
        f"{target} ({backend.name}) on {hostname()}",
        data=data,
    )
    return InstallResult(backend.name, target, len(wanted), changed, rendered, warnings, owner)


def environment_warnings(state: State) -> list[str]:
    """What this shell has that OS entries will not: cron and Task Scheduler pass no OPTSYNC_*."""
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
    target = _target_key(backend, crontab)
    owner = other_home(state, backend, install_id)
    if owner is not None:
        raise ConfigError(
            ownership_problem(state, target, owner) + "; nothing removed",
            f"Run {hints.uninstall_there(owner)} there, or make them this "
            f"home's own first with "
            f"{take_over_hint(state, backend_name, crontab and crontab.absolute())}",
        )
    changed = backend.uninstall(install_id)
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
    notes: list[str] = []
    warnings: list[str] = []
    for rec in records:
        if rec.host != here or rec.backend == "external":
            continue
        crontab = None if rec.target == USER_CRONTAB else Path(rec.target)
        backend = _backend(rec.backend, crontab)
        owner = other_home(state, backend, rec.install_id)
        if owner is not None:
            warnings.append(
                f"{ownership_problem(state, rec.target, owner)}; left unchanged, "
                f"{take_over_hint(state, rec.backend, crontab)} makes them this home's own"
            )
            continue
        account = _password_account(backend, rec.install_id)
        compare_as = (account, "") if account is not None else None
        if not install(state, rec.backend, crontab=crontab, dry_run=True,
                       run_as=compare_as).changed:
            continue
        if account is not None:
            warnings.append(
                f"the tasks in {rec.target} run as {account}, whose password optsync does "
                f"not keep; left unchanged, run {_run_as_hint(state, account)} to rewrite them"
            )
            continue
        result = install(state, rec.backend, crontab=crontab)
        if result.changed:
            notes.append(f"OS entries rewritten in {result.target} ({result.backend})")
    elsewhere = sorted({r.host for r in records if r.host != here and r.backend != "external"})
    if elsewhere:
        warnings.append(
            f"entries are installed on host {', '.join(elsewhere)}; "
            "run 'optsync schedule install' there"
        )
    return ("; ".join(notes) or None), ("; ".join(warnings) or None)


def _password_account(backend: SchedulerBackend, install_id: str) -> str | None:
    """The account of installed Windows tasks that run with a password (``--run-as``)."""
    facts = getattr(backend, "installed_facts", None)
    if facts is None:
        return None
    for fact in facts(install_id):
        if fact.get("logon") == "Password":
            return fact.get("user", "another account")
    return None


def _run_as_hint(state: State, account: str) -> str:
    return hints.run_as(state, account)


def schedule_rows(state: State, now: datetime | None = None) -> list[dict]:
    """``schedule list``: every company, those without a schedule as disabled."""
    now = now or clock.local_now()
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


def schedule_json(s: Schedule) -> dict:
    """A schedule as ``schedule list --json`` and the config log show it."""
    return {
        "enabled": s.enabled, "from": s.from_text, "to": s.to_text, "every": s.every,
        "days": s.day_names,
    }
