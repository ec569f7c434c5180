"""Where optsync keeps its files and which state database it uses (SPEC 1)."""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path

from optsync.errors import ConfigError


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("optsync", appauthor=False))


def resolve_home(option: str | Path | None = None) -> Path:
    """``--home``, else ``$OPTSYNC_HOME``, else the platform's user data folder."""
    if option:
        return Path(option).expanduser().absolute()
    env = os.environ.get("OPTSYNC_HOME")
    if env:
        return Path(env).expanduser().absolute()
    return default_home()


def is_default_home(home: Path) -> bool:
    return home == default_home()


def read_settings(home: Path) -> dict:
    path = home / "optsync.toml"
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})", f"Fix or remove {path}") from None


def state_url(home: Path) -> str:
    """``$OPTSYNC_STATE_URL``, else ``state_url`` in ``<home>/optsync.toml``, else SQLite."""
    env = os.environ.get("OPTSYNC_STATE_URL")
    if env:
        return env
    configured = read_settings(home).get("state_url")
    if configured:
        return str(configured)
    return f"sqlite:///{home / 'state.db'}"


def hostname() -> str:
    """This machine's name, or ``$OPTSYNC_HOSTNAME`` (containers, multi-host tests)."""
    return os.environ.get("OPTSYNC_HOSTNAME") or socket.gethostname()
