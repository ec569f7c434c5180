"""The SQL Server path for real, as far as it runs here: pyodbc, the unixODBC driver manager
and FreeTDS's ODBC driver, with the connection strings optsync builds, up to a server on the
loopback address that does not answer.

A small listener stands in for the server: it reads the login packet FreeTDS sends (TDS 7.0
sends it at once, without the pre-login exchange), decodes the user, password and database in
it, and hangs up. So the test sees what reached the wire, and optsync sees a server that does
not answer. ``.ci/run`` installs the packages; elsewhere the tests skip and say why.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from urllib.parse import quote, quote_plus

import pytest

from optsync.errors import ExitCode


def _freetds_missing() -> str | None:
    try:
        import pyodbc
    except ImportError as exc:
        return f"pyodbc cannot be imported ({exc}); pip install 'optsync[sqlserver]'"
    if "FreeTDS" not in pyodbc.drivers():
        return ("the FreeTDS ODBC driver is not registered with unixODBC "
                "(apt-get install unixodbc tdsodbc; .ci/run does it)")
    return None


pytestmark = pytest.mark.skipif(_freetds_missing() is not None,
                                reason=str(_freetds_missing()))


@pytest.fixture(autouse=True)
def _no_real_crontab(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configuration changes reconcile OS entries: never with the machine's real crontab."""
    import crontab

    monkeypatch.setattr(crontab, "CRON_COMMAND", "/nonexistent/crontab-forbidden-in-tests")


def _decode_password(raw: bytes) -> str:
    """TDS 7 scrambles each password byte: nibbles swapped, then XOR 0xA5."""
    return bytes((((b ^ 0xA5) & 0x0F) << 4) | ((b ^ 0xA5) >> 4) for b in raw).decode("utf-16-le")


class LoginCatcher:
    """A loopback listener that records every TDS 7 login it receives, then hangs up.

    With ``silent=True`` it accepts and never sends or reads anything (a server that hangs).
    """

    def __init__(self, *, silent: bool = False) -> None:
        self.logins: list[dict[str, str]] = []
        self.silent = silent
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            if self.silent:
                self._open.append(conn)
                continue
            with conn:
                conn.settimeout(5)
                try:
                    self._read_login(conn)
                except OSError:
                    pass

    def _read_login(self, conn: socket.socket) -> None:
        data = b""
        while True:
            head = conn.recv(8, socket.MSG_WAITALL)
            if len(head) < 8:
                return
            kind, status, length = head[0], head[1], struct.unpack(">H", head[2:4])[0]
            data += conn.recv(length - 8, socket.MSG_WAITALL)
            if status & 1:
                break
        if kind != 0x10:  # not a TDS 7 login
            self.logins.append({"kind": hex(kind)})
            return

        def field(offset: int) -> bytes:
            start, chars = struct.unpack("<HH", data[offset:offset + 4])
            return data[start:start + 2 * chars]

        self.logins.append({
            "user": field(40).decode("utf-16-le"),
            "password": _decode_password(field(44)),
            "database": field(68).decode("utf-16-le"),
        })

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._open:
            conn.close()
        self._sock.close()


@pytest.fixture
def catcher():
    server = LoginCatcher()
    yield server
    server.close()


def _pieces(password: str) -> set[str]:
    return {password[i:i + 4] for i in range(len(password) - 3)}


# Passwords that need quoting: ';', '=', '{', spaces, '@', ':', '/', '%', '#'. ('}' is left
# out: FreeTDS 1.3 keeps the '}}' of a value in braces as two braces, where the ODBC rules
# and Microsoft's driver read one; see the README.)
PASSWORDS = ["Gq#4;Wm!{8=Z~t", " Hv#6 L!p3 ~K ", "Rk#7@Yb!2:Ns~5/", "Dm#3%Qx!8%zz~"]


def _connection_strings(port: int, password: str) -> dict[str, str]:
    odbc = (f"DRIVER={{FreeTDS}};SERVER=127.0.0.1,{port};DATABASE=CDN_Firma;UID=sa;"
            f"PWD={{{password.replace('}', '}}')}}};TDS_Version=7.0")
    return {
        "url": f"mssql+pyodbc://sa:{quote(password, safe='')}@127.0.0.1:{port}/CDN_Firma"
               "?driver=FreeTDS&TDS_Version=7.0",
        "odbc": "odbc:" + odbc,
        "odbc_connect": "mssql+pyodbc:///?odbc_connect=" + quote_plus(odbc),
    }


@pytest.mark.parametrize("form", ["url", "odbc", "odbc_connect"])
@pytest.mark.parametrize("password", PASSWORDS)
def test_a_pass_reaches_freetds_with_the_exact_password_and_exits_69_with_the_drivers_reason(
    cli, home, tmp_path, catcher, form, password
):
    target = _connection_strings(catcher.port, password)[form]
    added = cli("company", "add", "Firma", "--db", target)
    assert "[FreeTDS]" in added.stderr  # the reachability warning carries the driver's reason
    cli("operator", "set", "ADMIN", "--no-password")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)

    line = ran.stderr.strip()
    assert "\n" not in line and line.startswith("optsync: error: the database of company")
    assert "[FreeTDS]" in line and "cannot be reached" in line
    assert "***" in line
    for piece in _pieces(password):
        assert piece not in ran.stdout + ran.stderr + added.stderr
    # What went over the wire: exactly what the administrator typed, for every login.
    assert len(catcher.logins) == 2  # company add's check, then the pass
    for login in catcher.logins:
        assert login == {"user": "sa", "password": password, "database": "CDN_Firma"}


def test_a_closed_port_exits_69_at_once_with_the_drivers_reason(cli, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again when the block ends
    password = "Zx#9Cv!2Bn~4"
    cli("company", "add", "Firma", "--db",
        f"odbc:DRIVER={{FreeTDS}};SERVER=127.0.0.1,{port};DATABASE=CDN_Firma;UID=sa;"
        f"PWD={password}")
    cli("operator", "set", "ADMIN", "--no-password")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    started = time.monotonic()
    ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)
    assert time.monotonic() - started < 5
    assert "Unable to connect" in ran.stderr and "PWD=***" in ran.stderr
    assert not any(p in ran.stderr for p in _pieces(password))


@pytest.mark.slow  # waits out a login timeout
def test_a_server_that_never_answers_is_given_up_after_the_login_timeout(
    cli, tmp_path, monkeypatch
):
    from optsync import dburl

    monkeypatch.setattr(dburl, "CONNECT_TIMEOUT", 1)
    silent = LoginCatcher(silent=True)
    try:
        password = "Lk#3Jh!7Gf~1"
        cli("operator", "set", "ADMIN", "--no-password")
        cli("company", "add", "Firma", "--db",
            f"mssql+pyodbc://sa:{quote(password, safe='')}@127.0.0.1:{silent.port}/CDN_Firma"
            "?driver=FreeTDS&TDS_Version=7.4")
        cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
            str(tmp_path / "out"))
        started = time.monotonic()
        ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    assert "Timeout expired" in ran.stderr and "sa:***@" in ran.stderr
    assert not any(p in ran.stderr for p in _pieces(password))


def test_freetds_receives_a_brace_in_braces_doubled_which_doctor_warns_about(
    cli, tmp_path, catcher
):
    """FreeTDS 1.3 keeps '}}' as two braces; should a newer one read one, drop the warning."""
    # the password is Br#4}Ce!5, written in braces with its brace doubled
    cli("company", "add", "Firma", "--db",
        f"odbc:DRIVER={{FreeTDS}};SERVER=127.0.0.1,{catcher.port};DATABASE=CDN_Firma;UID=sa;"
        "PWD={Br#4}}Ce!5};TDS_Version=7.0")
    assert [login["password"] for login in catcher.logins] == ["Br#4}}Ce!5"]
    checks = [c for c in json.loads(cli("doctor", "--json", code=None).stdout)
              if c["check"] == "FreeTDS password"]
    assert [c["status"] for c in checks] == ["warn"]
    assert "PWD=***" in checks[0]["detail"] and "Ce!5" not in json.dumps(checks)
