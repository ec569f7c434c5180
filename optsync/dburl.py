"""Database URLs: SQLAlchemy URLs and ``odbc:`` connection strings.

Both forms are read by :mod:`optsync.connstr` (the one parser, which also finds passwords);
this module checks them at input, opens engines, and names the missing driver package.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine

from optsync import connstr, secrets
from optsync.errors import BadInput, OptsyncError, Unreachable
from optsync.secrets import exception_text, mask_url, secrets_of

# The Python package each SQLAlchemy driver needs, and the optsync extra that installs it.
DRIVER_EXTRAS = {
    "pyodbc": ("pyodbc", "sqlserver"),
    "psycopg": ("psycopg", "postgres"),
    "psycopg2": ("psycopg", "postgres"),
}


def to_sqlalchemy(url: str) -> str:
    """A SQLAlchemy URL for ``url``; ``odbc:<connection string>`` goes through pyodbc."""
    if url.lower().startswith("odbc:"):
        return "mssql+pyodbc:///?odbc_connect=" + quote_plus(url[5:])
    return url


def validate(url: str, option: str, *, paths_ok: bool = False) -> str:
    """Check that ``url`` can be read, without connecting; return it unchanged.

    A string the connection-string rules cannot read is refused naming ``option`` and the
    rule it breaks, never quoting it (it may hold a password).
    """
    try:
        parsed = connstr.parse(url)
    except connstr.Unparsable as exc:
        raise BadInput(
            f"{option} cannot be read: {exc.reason}; it is not repeated here as it may hold "
            "a password",
            f"Check the value given to {option}",
        ) from None
    if parsed.kind == "odbc":
        if not connstr.odbc_pairs(url[5:]):
            raise BadInput(
                f"{option} 'odbc:' has no name=value pairs",
                f"Use for example {option} 'odbc:DRIVER={{ODBC Driver 18 for SQL Server}};"
                "SERVER=host;DATABASE=db;Trusted_Connection=yes'",
            )
        return url
    if parsed.kind == "path":
        if paths_ok:
            return url
        raise BadInput(
            f"{option} {parsed.masked!r} is not a database URL",
            f"Use a SQLAlchemy URL, for example {option} sqlite:///optima.db or "
            f"{option} 'mssql+pyodbc://user@server/db?driver=ODBC+Driver+18+for+SQL+Server'",
        )
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect()  # the dialect only: its driver loads on first connect
    except Exception:
        raise BadInput(
            f"{option} {parsed.masked!r} names a database kind optsync does not know",
            f"Use a SQLAlchemy URL, for example {option} sqlite:///optima.db or "
            f"{option} 'mssql+pyodbc://user@server/db?driver=ODBC+Driver+18+for+SQL+Server'",
        ) from None
    return url


def engine_for(url: str, *, what: str = "the database", **kwargs) -> Engine:
    """An engine for an Optima database or endpoint URL (pyodbc loads only for mssql)."""
    sa_url = to_sqlalchemy(url)
    if sa_url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        _existing_sqlite(sa_url, url, what, kwargs)
    # driver: SQL Server's fast executemany, loaded for a SQL Server URL only
    from optsync import fastexec  # SQL Server: fast executemany with declared input sizes

    try:
        return fastexec.install(create_engine(sa_url, **fastexec.engine_options(sa_url, kwargs)))
    except ImportError as exc:
        raise missing_driver(url, exc, what) from None
    except Exception as exc:
        raise Unreachable(
            f"{what} {mask_url(url)} cannot be used ({exception_text(exc, secrets_of(url))})",
            "Check the URL and that its driver is installed ('optsync doctor')",
        ) from None


def _existing_sqlite(sa_url: str, url: str, what: str, kwargs: dict) -> None:
    """Make the engine open an SQLite file only if it exists (never create an empty one).

    The file is opened through an SQLite URI with ``mode=rw``, built by pathlib so that any
    character of the path survives; the engine's URL still names the file, which keeps
    SQLAlchemy's pool for files.
    """
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    parsed = make_url(sa_url)
    database = parsed.database or ""
    if not database or database == ":memory:" or parsed.query.get("uri"):
        return
    path = Path(database).absolute()
    if not path.is_file():
        raise Unreachable(
            f"{what} {mask_url(url)} does not exist (no such file {path})"
            if not path.exists() else f"{what} {mask_url(url)} is not a file ({path})",
            "Check the path, or create the database first",
        )
    timeout = kwargs.pop("connect_args", {}).get("timeout", 30)
    uri = path.as_uri() + "?mode=rw"
    kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, timeout=timeout,
                                                check_same_thread=False)


def missing_driver(url: str, exc: ImportError, what: str = "the database") -> OptsyncError:
    """The error for a database whose driver cannot be imported, naming what installs it.

    Exit 69, as for a database that does not answer: the configuration is right, this
    machine lacks the means to reach the database, and installing it needs no change to
    the configuration.
    """
    first = first_line(exc, url)
    module = (getattr(exc, "name", None) or "").split(".")[0]
    if module != "pyodbc" and "odbc" in first.lower():  # pyodbc is there, libodbc is not
        return Unreachable(
            f"{what} {mask_url(url)} needs the unixODBC driver manager, which is not "
            f"installed ({first})",
            "Install unixODBC and an ODBC driver for SQL Server, for example "
            "'apt-get install unixodbc tdsodbc' (Debian, Ubuntu), then run 'optsync doctor'",
        )
    package, extra = DRIVER_EXTRAS.get(module, (module or "its driver", None))
    install = f"pip install 'optsync[{extra}]'" if extra else f"pip install {package}"
    hint = " and write the URL as postgresql+psycopg://..." if module == "psycopg2" else ""
    return Unreachable(
        f"{what} {mask_url(url)} needs the Python package {package}, which is not installed "
        f"(install it with: {install})",
        f"After installing it{hint}, 'optsync doctor' checks the database again",
    )


CONNECT_TIMEOUT = 10  # seconds: a checked server that does not answer must not hang a pass


def timeout_args(url: str, seconds: int | None = None) -> dict:
    """``create_engine`` arguments that bound the time to open a connection."""
    seconds = CONNECT_TIMEOUT if seconds is None else seconds
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
    engine = engine_for(url, what=what, **timeout_args(url))
    try:
        with engine.connect():
            pass
    except Exception as exc:
        raise Unreachable(
            f"{what} {mask_url(url)} cannot be reached "
            f"({exception_text(exc, secrets_of(url))})",
            "Check that the server runs and the URL is right",
        ) from None
    finally:
        engine.dispose()


def first_line(exc: BaseException, url: str) -> str:
    """The first line of a driver's error, with every spelling of the URL's password masked
    (:func:`optsync.secrets.first_line`)."""
    return secrets.first_line(exc, secrets_of(url))



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
        try:
            found = connstr.odbc_get(url[5:], "DATABASE", "Initial Catalog")
        except connstr.Unparsable:
            return None
        return found.strip() if found else None
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "").stem or None
    return parsed.database


def with_database(config_url: str, database: str) -> str:
    """The configuration database's URL with the database replaced (``company discover``)."""
    if config_url.lower().startswith("odbc:"):
        return config_url[:5] + connstr.odbc_set(config_url[5:], "DATABASE", database,
                                                 "Initial Catalog")
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    parsed = make_url(config_url)
    if parsed.get_backend_name() == "sqlite":
        folder = Path(parsed.database or ".").parent
        name = database if Path(database).suffix else database + ".db"
        return f"sqlite:///{folder / name}"
    return parsed.set(database=database).render_as_string(hide_password=False)
