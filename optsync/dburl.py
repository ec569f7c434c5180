"""Database URLs: SQLAlchemy URLs and ``odbc:`` connection strings (SPEC 2.2)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine

from optsync.errors import BadInput, Unreachable
from optsync.secrets import mask_url

_ODBC_DATABASE = re.compile(r"(?i)\b(DATABASE|Initial Catalog)\s*=\s*(\{[^}]*\}|[^;]*)")


def to_sqlalchemy(url: str) -> str:
    """A SQLAlchemy URL for ``url``; ``odbc:<connection string>`` goes through pyodbc."""
    if url.lower().startswith("odbc:"):
        return "mssql+pyodbc:///?odbc_connect=" + quote_plus(url[5:])
    return url


def validate(url: str, option: str) -> str:
    """Check that ``url`` parses, without connecting; return it unchanged."""
    if url.lower().startswith("odbc:"):
        if "=" not in url:
            raise BadInput(
                f"{option} {mask_url(url)!r} is not an ODBC connection string",
                f"Use for example {option} 'odbc:DRIVER={{ODBC Driver 18 for SQL Server}};"
                "SERVER=host;DATABASE=db;Trusted_Connection=yes'",
            )
        return url
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect()  # the dialect only: its driver loads on first connect
    except Exception:
        raise BadInput(
            f"{option} {mask_url(url)!r} is not a database URL",
            f"Use a SQLAlchemy URL, for example {option} sqlite:///optima.db or "
            f"{option} 'mssql+pyodbc://user@server/db?driver=ODBC+Driver+18+for+SQL+Server'",
        ) from None
    return url


def engine_for(url: str, **kwargs) -> Engine:
    """An engine for an Optima database or endpoint URL (pyodbc loads only for mssql)."""
    sa_url = to_sqlalchemy(url)
    if sa_url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    try:
        return create_engine(sa_url, **kwargs)
    except Exception as exc:
        raise Unreachable(
            f"the database {mask_url(url)} cannot be used ({type(exc).__name__}: "
            f"{_first_line(exc, url)})",
            "Check the URL and that its driver is installed ('optsync doctor')",
        ) from None


CONNECT_TIMEOUT = 10  # seconds: a checked server that does not answer must not hang a pass


def timeout_args(url: str, seconds: int = CONNECT_TIMEOUT) -> dict:
    """``create_engine`` arguments that bound the time to open a connection."""
    lowered = url.lower()
    if lowered.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": seconds}}
    if lowered.startswith(("mssql+pyodbc", "odbc:")):
        return {"connect_args": {"timeout": seconds}}
    return {}


def connect_check(url: str, what: str) -> None:
    """Open and close one connection, or raise :class:`Unreachable` naming ``what``."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise Unreachable(
            f"{what} {mask_url(url)} cannot be opened (no such file)",
            "Check the path, or create the database first",
        )
    engine = engine_for(url, **timeout_args(url))
    try:
        with engine.connect():
            pass
    except Exception as exc:
        raise Unreachable(
            f"{what} {mask_url(url)} cannot be reached ({type(exc).__name__}: "
            f"{_first_line(exc, url)})",
            "Check that the server runs and the URL is right",
        ) from None
    finally:
        engine.dispose()


def _first_line(exc: BaseException, url: str) -> str:
    from optsync.secrets import redact, split_secret

    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else ""
    return redact(line, [split_secret(url)[1]])[:200]


def absolute(target: str) -> str:
    """A SQLite URL or a folder path made absolute: scheduled passes start in another folder."""
    if target.startswith("sqlite:///"):
        path = target[len("sqlite:///") :]
        rest = ""
        if "?" in path:
            path, rest = path.split("?", 1)
            rest = "?" + rest
        if path and path != ":memory:" and not Path(path).is_absolute():
            return f"sqlite:///{Path(path).absolute()}{rest}"
        return target
    if "://" in target or target.lower().startswith("odbc:"):
        return target
    return str(Path(target).expanduser().absolute())


def database_name(url: str) -> str | None:
    """The database a URL or ``odbc:`` string names; for SQLite the file name's stem."""
    if url.lower().startswith("odbc:"):
        found = _ODBC_DATABASE.search(url)
        return found.group(2).strip("{}") if found else None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "").stem or None
    return parsed.database


def with_database(config_url: str, database: str) -> str:
    """The configuration database's URL with the database replaced (``company discover``)."""
    if config_url.lower().startswith("odbc:"):
        if _ODBC_DATABASE.search(config_url):
            return _ODBC_DATABASE.sub(lambda m: f"{m.group(1)}={database}", config_url, count=1)
        return config_url.rstrip(";") + f";DATABASE={database}"
    from sqlalchemy.engine import make_url

    parsed = make_url(config_url)
    if parsed.get_backend_name() == "sqlite":
        folder = Path(parsed.database or ".").parent
        name = database if Path(database).suffix else database + ".db"
        return f"sqlite:///{folder / name}"
    return parsed.set(database=database).render_as_string(hide_password=False)
