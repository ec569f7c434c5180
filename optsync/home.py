"""Where optsync keeps its files and which state database it uses.

The home is ``--home DIR``, else ``$OPTSYNC_HOME``, else the platform's user data folder. Its
``optsync.toml`` may hold ``state_url`` (overridden by ``$OPTSYNC_STATE_URL``) and nothing
else: an unknown key is refused, so a typo never goes unnoticed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from optsync.errors import BadInput, ConfigError, os_fault

SETTINGS_FILE = "optsync.toml"
# Every key optsync.toml may hold, with what it means (shown when a key is unknown).
KNOWN_SETTINGS = {
    "state_url": "the state database URL, e.g. 'postgresql+psycopg://optsync@db/optsync'",
}


def default_home() -> Path:
    from platformdirs import user_data_dir  # start-up time: needed only when no home is given

    return Path(user_data_dir("optsync", appauthor=False))


def resolve_home(option: str | Path | None = None) -> Path:
    """``--home``, else ``$OPTSYNC_HOME``, else the platform's user data folder."""
    if option is not None:
        if not str(option).strip():
            raise BadInput(
                "--home is empty",
                "Give a folder, e.g. --home /srv/optsync, or leave --home out to use "
                "$OPTSYNC_HOME or the default home",
            )
        return Path(option).expanduser().absolute()
    env = os.environ.get("OPTSYNC_HOME")
    if env:
        return Path(env).expanduser().absolute()
    return default_home()


def is_default_home(home: Path) -> bool:
    return home == default_home()


def check_home(home: Path) -> None:
    """Refuse a home that exists but is not a folder (exit 78)."""
    if home.exists() and not home.is_dir():
        raise ConfigError(
            f"the home {home} is a file, not a folder",
            "Choose a folder with --home DIR or $OPTSYNC_HOME, or move the file away",
        )
    for parent in home.parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(
                f"the home {home} cannot be a folder: {parent} is a file",
                "Choose a folder with --home DIR or $OPTSYNC_HOME, or move the file away",
            )


def read_settings(home: Path) -> dict:
    """The settings in ``<home>/optsync.toml`` ({} when there is none), checked."""
    path = home / SETTINGS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except NotADirectoryError:
        check_home(home)
        raise
    except OSError as exc:
        raise (os_fault(exc, path) or exc) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            f"Save {path} as UTF-8 (e.g. 'iconv -f CP1250 -t UTF-8'), or remove it",
        ) from None
    try:
        settings = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc})", f"Fix or remove {path}") from None
    unknown = sorted(set(settings) - set(KNOWN_SETTINGS))
    if unknown:
        import difflib  # start-up time: only for a suggestion after a typo

        key = unknown[0]
        close = difflib.get_close_matches(key, list(KNOWN_SETTINGS), n=1)
        known = "; ".join(f"{k} ({v})" for k, v in KNOWN_SETTINGS.items())
        raise ConfigError(
            f"{path} has an unknown setting {key!r}"
            + (f" (did you mean {close[0]!r}?)" if close else ""),
            f"Fix or remove it; the known settings are: {known}",
        )
    value = settings.get("state_url")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"state_url in {path} is not a string",
                          "Write it in quotes, e.g. state_url = \"sqlite:////srv/optsync/state.db\"")
    return settings


def state_url(home: Path) -> str:
    """``$OPTSYNC_STATE_URL``, else ``state_url`` in ``<home>/optsync.toml``, else SQLite."""
    env = os.environ.get("OPTSYNC_STATE_URL")
    if env:
        return refuse_memory(env, "$OPTSYNC_STATE_URL")
    configured = read_settings(home).get("state_url")
    if configured:
        return refuse_memory(configured, f"state_url in {home / SETTINGS_FILE}")
    return f"sqlite:///{home / 'state.db'}"


def is_memory_sqlite(url: str) -> bool:
    """Whether ``url`` names an SQLite database that lives in memory only."""
    lowered = url.lower()
    if not lowered.startswith("sqlite"):
        return False
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL: opening it reports that
        return False
    database = (parsed.database or "").strip()
    query = {k.lower(): str(v).lower() for k, v in parsed.query.items()}
    return (database in ("", ":memory:") or database.lower().startswith("file::memory:")
            or query.get("mode") == "memory" or "mode=memory" in database.lower())


def refuse_memory(url: str, source: str) -> str:
    """``url`` unchanged, unless it is an SQLite database in memory (exit 78)."""
    if is_memory_sqlite(url):
        raise ConfigError(
            f"{source} names an SQLite database in memory ({url}): every change would be "
            "lost when optsync exits",
            "Point it at a file (e.g. sqlite:////srv/optsync/state.db) or a server database, "
            "or remove it to use state.db in the home",
        )
    return url
