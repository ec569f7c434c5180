"""Doctor checks of the SQL Server path: unixODBC, pyodbc and the installed ODBC drivers."""

from __future__ import annotations

import configparser
import os
from ctypes.util import find_library
from pathlib import Path

from sqlalchemy.engine import make_url

from optsync import connstr
from optsync.secrets import mask_url
from optsync.services.doctor.check import Check

SQLSERVER_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server")
INSTALL_UNIXODBC = "install unixODBC: 'apt-get install unixodbc' (Debian, Ubuntu) or " \
                   "'dnf install unixODBC'"
INSTALL_MS_DRIVER = (
    "install Microsoft ODBC Driver 18 for SQL Server (https://learn.microsoft.com/sql/connect/"
    "odbc/linux-mac/installing-the-microsoft-odbc-driver-for-sql-server), or FreeTDS: "
    "'apt-get install tdsodbc'"
)
INSTALL_PYODBC = "pip install 'optsync[sqlserver]' (pyodbc, for SQL Server databases)"


def checks(urls: list[str]) -> list[Check]:
    """unixODBC (POSIX), pyodbc, and the drivers: failures only where SQL Server is used."""
    sqlserver = [u for u in urls if is_sqlserver(u)]
    result = [] if os.name == "nt" else [_unixodbc(bool(sqlserver))]
    pyodbc_check, pyodbc_drivers = _pyodbc(bool(sqlserver))
    result.append(pyodbc_check)
    result.append(_drivers(pyodbc_drivers, sqlserver))
    result += _freetds_braces(sqlserver)
    return result


def _freetds_braces(sqlserver_urls: list[str]) -> list[Check]:
    """A warning for each FreeTDS connection whose password holds '}'.

    The ODBC rules write a '}' inside braces as '}}' (Microsoft's driver reads one '}');
    FreeTDS 1.3 keeps both, so such a login fails there.
    """
    found = []
    for url in sqlserver_urls:
        driver = wanted_driver(url) or ""
        try:
            passwords = connstr.parse(url).passwords
        except connstr.Unparsable:
            continue
        if "freetds" in driver.lower() and any("}" in p for p in passwords):
            found.append(Check(
                "FreeTDS password", "warn",
                f"the password of {mask_url(url)} holds '}}', which FreeTDS 1.3 receives "
                "doubled: the login fails",
                "change the password to one without '}', or use Microsoft's ODBC Driver 18 "
                "for SQL Server",
            ))
    return found


def is_sqlserver(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(("odbc:", "mssql"))


def wanted_driver(url: str) -> str | None:
    """The ODBC driver an ``odbc:`` string or ``mssql+pyodbc`` URL names, if any."""
    try:
        if url.lower().startswith("odbc:"):
            driver = connstr.odbc_get(url[5:], "DRIVER")
            return driver.strip() if driver else None
        if connstr.kind_of(url) != "url":
            return None
        driver = make_url(url).query.get("driver")
    except Exception:  # noqa: BLE001 - not readable: nothing named (input refuses these)
        return None
    return str(driver) if isinstance(driver, str) else None


def _unixodbc(needed: bool) -> Check:
    library = find_library("odbc")
    if library:
        return Check("unixODBC", "ok", f"driver manager {library} found")
    return Check("unixODBC", "fail" if needed else "warn", _unused(
        "the unixODBC driver manager (libodbc) is not installed", needed), INSTALL_UNIXODBC)


def _unused(text: str, needed: bool) -> str:
    return text if needed else f"{text}; needed only for SQL Server databases (none configured)"


def _pyodbc(needed: bool) -> tuple[Check, list[str] | None]:
    try:
        import pyodbc  # probe: whether the optional SQL Server driver imports
    except ImportError as exc:
        first = (str(exc).splitlines() or [""])[0]
        fix = INSTALL_UNIXODBC if "libodbc" in first else INSTALL_PYODBC
        return Check("pyodbc", "fail" if needed else "warn",
                     _unused(f"pyodbc cannot be imported ({first})", needed), fix), None
    try:
        drivers = list(pyodbc.drivers())
    except Exception:  # noqa: BLE001 - a broken odbcinst.ini must not stop doctor
        drivers = []
    return Check("pyodbc", "ok", f"pyodbc {getattr(pyodbc, 'version', '?')} importable"), drivers


def odbcinst_drivers(path: Path | None = None) -> list[str]:
    """Driver names registered in odbcinst.ini ($ODBCSYSINI, else /etc)."""
    if path is None:
        path = Path(os.environ.get("ODBCSYSINI") or "/etc") / "odbcinst.ini"
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    return [s for s in parser.sections() if s.upper() != "ODBC"]


def _drivers(from_pyodbc: list[str] | None, sqlserver_urls: list[str]) -> Check:
    installed = sorted(set(from_pyodbc or []) | set(odbcinst_drivers()))
    usable = [d for d in installed if d in SQLSERVER_DRIVERS or "freetds" in d.lower()
              or d == "SQL Server"]
    listing = ", ".join(installed) if installed else "none"
    wanted = sorted({d for d in map(wanted_driver, sqlserver_urls) if d})
    absent = [d for d in wanted if d not in installed]
    if absent:
        return Check("ODBC drivers", "fail",
                     f"configured databases use {', '.join(absent)}, not installed "
                     f"(installed: {listing})", INSTALL_MS_DRIVER)
    if usable:
        return Check("ODBC drivers", "ok", f"SQL Server drivers: {', '.join(usable)} "
                     f"(installed: {listing})")
    return Check("ODBC drivers", "fail" if sqlserver_urls else "warn",
                 _unused(f"no SQL Server ODBC driver (installed: {listing})",
                         bool(sqlserver_urls)), INSTALL_MS_DRIVER)
