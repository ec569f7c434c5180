"""The command lines that messages suggest: the one module of the services that spells
optsync's options.

A service says what it suggests (take the entries over, look at a company's logs); the words
of the command line it takes are written here, so a change of an option is one change.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from optsync.home import is_default_home
from optsync.state.db import State

CHOOSE_HOME = "choose --home DIR"
CRONTAB_FILE = "'optsync schedule install --crontab FILE'"
POINT_CONFIG_DB = "Point --config-db at an Optima configuration database (CDN_KNF_Konfiguracja)"
RUN_AS = "--run-as"
LEAVE_OUT_RUN_AS = "Leave out --run-as (cron runs passes as the crontab's user)"
SETTING_OPTIONS = {"prices": "--price-list", "stock": "--warehouse"}
SETTING_FIX = {"prices": "--price-list with one of the active price numbers listed",
               "stock": "--warehouse with one of the warehouse symbols listed"}
VALID_SETTINGS = "a valid --price-list / --warehouse"


def _home_words(state: State) -> list[str]:
    """``--home HOME`` when a shell started elsewhere would not find this home by itself."""
    env_home = os.environ.get("OPTSYNC_HOME")
    if not is_default_home(state.home) and not (
        env_home and Path(env_home).expanduser().absolute() == state.home
    ):
        return ["--home", str(state.home)]
    return []


def hint(state: State, *args: str) -> str:
    """A quoted optsync command line for a message, with ``--home`` when a shell needs it."""
    text = shlex.join(["optsync", *_home_words(state), *args])
    return f'"{text}"' if "'" in text else f"'{text}'"


def command(state: State, *words: str) -> str:
    """An optsync command line of already quoted ``words``, with --home where needed."""
    home = _home_words(state)
    return " ".join(["optsync", *(["--home", shlex.quote(home[1])] if home else []), *words])


def scheduled_run(home: Path | None, company_key: str, company_name: str | None) -> list[str]:
    """What an OS entry runs after the program: a scheduled pass of one company, named by its
    name, or by its key when ``company_name`` is None."""
    words = ["--home", str(home)] if home is not None else []
    if company_name is None:
        return [*words, "run", "--company-key", company_key, "--scheduled"]
    return [*words, "run", "--company", company_name, "--scheduled"]


def install(state: State, backend: str | None = None, crontab: str | Path | None = None,
            *, take_over: bool = False) -> str:
    """``schedule install``, for ``backend`` (None: the one auto picks) and ``crontab``."""
    args = ["schedule", "install"] + (["--take-over"] if take_over else [])
    if backend is not None:
        args += ["--backend", backend]
    if crontab is not None:
        args += ["--crontab", str(crontab)]
    return hint(state, *args)


def run_as(state: State, account: str) -> str:
    """Rewrite the Windows tasks to run as ``account`` with its password."""
    return hint(state, "schedule", "install", "--backend", "windows", "--run-as", account)


def keep_elsewhere(owner: str) -> str:
    """Leave the entries to the home they serve."""
    return f"run optsync with --home {owner} to keep them there"


def uninstall_there(owner: str) -> str:
    return f"'optsync --home {owner} schedule uninstall'"


def sync_logs(state: State, company: str) -> str:
    """The log records of a company's passes."""
    return hint(state, "logs", "--filter", "sync", "--company", company)


def integration_list(company: str) -> str:
    return f"'optsync integration list --company {company!r}'"


def setting_values(price_list: int | None, warehouse: str | None) -> str:
    """The price list and warehouse options as given, e.g. ``--price-list 3 and --warehouse MAG``."""
    options = [f"--price-list {price_list}" if price_list is not None else "",
               f"--warehouse {warehouse}" if warehouse is not None else ""]
    return " and ".join(o for o in options if o)


def add_integration(state: State, company: str) -> str:
    return hint(state, "integration", "add", "--company", company, "--app", "eshop",
                "--endpoint", "TARGET")


def remove_integration(state: State, integration: str, company: str) -> str:
    return hint(state, "integration", "remove", integration, "--company", company)


def rename_integration(state: State, company_word: str, old_word: str, new_word: str) -> str:
    """Rename an integration; the words come quoted for a shell already."""
    return command(state, "integration", "rename", "--company", company_word, old_word,
                   new_word)


def set_operator(state: State) -> str:
    return hint(state, "operator", "set", "ACRONYM", "--password-stdin") + " (or --no-password)"
