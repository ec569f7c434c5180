"""Doctor checks of this machine: the home, the state database, the OS scheduler."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from crontab import CRON_COMMAND

from optsync.clock import hostname
from optsync.errors import OptsyncError
from optsync.names import name_problem, printable, shell_word, suggest
from optsync.schedule.daemon import START_HINT, cron_daemon_running
from optsync.secrets import exception_text, mask_url, secrets_of
from optsync.services import hints
from optsync.services.doctor.check import Check
from optsync.services.schedules import USER_CRONTAB, active_installs
from optsync.state import config as cfg
from optsync.state import tables as t
from optsync.state.db import SCHEMA_VERSION, State

INSTALL_CRON = "install cron: 'apt-get install cron' (Debian, Ubuntu) or 'dnf install cronie'"


def home(state: State) -> Check:
    """The home exists and a file can be created in it (or in the folder that will hold it)."""
    folder = state.home
    if not folder.is_dir():
        parent = next((p for p in folder.parents if p.is_dir()), Path("/"))
        if _writable(parent):
            return Check("home", "warn", f"{folder} does not exist yet",
                         "run " + hints.hint(state, "init"))
        return Check("home", "fail", f"{folder} does not exist and {parent} is not writable",
                     f"run optsync as a user who may write there, or {hints.CHOOSE_HOME}")
    if _writable(folder):
        return Check("home", "ok", f"{folder} is writable")
    return Check("home", "fail", f"{folder} is not writable",
                 f"give this user write access to {folder}, or {hints.CHOOSE_HOME}")


def _writable(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".optsync-doctor-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def state_database(state: State) -> Check:
    """The state database opens, is upgraded, and takes a write (rolled back)."""
    where = mask_url(state.url)
    try:
        state.install_id()
        with state.engine.connect() as conn:
            tx = conn.begin()
            conn.execute(t.meta.update().where(t.meta.c.key == "install_id")
                         .values(value=t.meta.c.value))
            tx.rollback()
    except OptsyncError as exc:
        return Check("state database", "fail", exc.what, exc.fix)
    except Exception as exc:  # noqa: BLE001 - a finding, not a crash
        return Check("state database", "fail",
                     f"{where} cannot be written ({exception_text(exc, secrets_of(state.url))})",
                     "give this user write access to the database (and its folder for "
                     "SQLite), or fix state_url in optsync.toml")
    return Check("state database", "ok", f"{where} is writable (schema {SCHEMA_VERSION})")


def scheduler(state: State | None) -> list[Check]:
    """The program that installs entries (crontab or schtasks) and, for cron, the daemon."""
    if os.name == "nt":
        found = shutil.which("schtasks")
        return [Check("schtasks command", "ok" if found else "fail",
                      found or "schtasks is not on PATH",
                      "" if found else "run optsync on Windows with System32 on PATH")]
    return [_crontab_command(state), _cron_daemon()]


def _uses_user_crontab(state: State | None) -> bool:
    if state is None:
        return False
    return any(r.host == hostname() and r.backend == "cron" and r.target == USER_CRONTAB
               for r in active_installs(state))


def _crontab_command(state: State | None) -> Check:
    found = shutil.which(str(CRON_COMMAND))
    if found:
        return Check("crontab command", "ok", found)
    # Needed only for the user crontab: '--crontab FILE' deployments work without it.
    status = "fail" if _uses_user_crontab(state) else "warn"
    return Check("crontab command", status, f"{CRON_COMMAND} not found",
                 f"{INSTALL_CRON}, or use {hints.CRONTAB_FILE}")


def _cron_daemon() -> Check:
    running = cron_daemon_running()
    if running is None:
        return Check("cron daemon", "ok", "cannot tell on this system (no /proc)")
    if running:
        return Check("cron daemon", "ok", "running")
    return Check("cron daemon", "warn", "no cron daemon runs on this host",
                 f"start cron: '{START_HINT}' (and {INSTALL_CRON} when missing)")


def secret_key(state: State) -> Check:
    """The secret key reads every secret stored in the state database; names those it cannot."""
    vault = state.vault
    try:
        stored = state.stored_secrets()
        if not stored:
            return Check("secret key", "ok", "no secret stored yet")
        bad = vault.unreadable()
    except OptsyncError as exc:
        return Check("secret key", "fail", exc.what, exc.fix)
    if not bad:
        return Check("secret key", "ok",
                     f"{vault.key_source} reads all {len(stored)} stored secret(s)")
    return Check(
        "secret key", "fail",
        f"{len(bad)} of {len(stored)} stored secret(s) cannot be decrypted with "
        f"{vault.key_source}: " + "; ".join(s.label for s in bad),
        f"put back the key that stored them ({vault.key_path} from a backup, or "
        "OPTSYNC_SECRET_KEY), or store them again: " + "; ".join(
            dict.fromkeys(s.fix for s in bad)),
    )


def names(state: State) -> list[Check]:
    """Company and integration names stored by an older optsync that break today's name rule.

    They keep working (OS entries name such a company by its key); each is listed with the
    command that renames it (``$'...'`` spells the characters a shell cannot show).
    """
    found = []
    for company in cfg.list_companies(state):
        problem = name_problem(company.name)
        if problem is not None:
            found.append(Check(
                "names", "warn", f"company '{printable(company.name)}' {problem}",
                "rename it: " + hints.command(state, "company", "rename",
                                              shell_word(company.name),
                                              shell_word(suggest(company.name))),
            ))
    for integ in cfg.list_integrations(state):
        problem = name_problem(integ.name)
        if problem is not None:
            found.append(Check(
                "names", "warn",
                f"integration '{printable(integ.name)}' of {integ.company} {problem}",
                "rename it: " + hints.rename_integration(state, shell_word(integ.company),
                                                         shell_word(integ.name),
                                                         shell_word(suggest(integ.name))),
            ))
    return found or [Check("names", "ok", "every company and integration name is printable")]

