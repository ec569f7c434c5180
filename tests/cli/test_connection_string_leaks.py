"""No piece of a password leaks, whatever connection string an administrator types.

Each case carries a password of its own, written so that every four characters in a row hold
a sign that neither base64 (the encrypted secrets) nor ordinary output uses; after the case,
no four characters in a row of it may appear in any output, log record or file of the home.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from optsync.errors import ExitCode

SERVER = "127.0.0.1:9"  # nothing listens on the discard port: a refusal, at once
ODBC = "odbc:DRIVER={FreeTDS};SERVER=127.0.0.1,9;DATABASE=CDN_Firma;UID=sa;"

# (connection string, its password); each must be refused at input.
MALFORMED = [
    (ODBC + "PWD={Qm#Rz}Kp^Wq!Lo};", "Qm#Rz}Kp^Wq!Lo"),  # a stray brace in braces
    (ODBC + "PWD={Vn#3Lx!q8H~d2;", "Vn#3Lx!q8H~d2"),  # never closed
    (ODBC + "PWD=Tb#6}Gy!9N~c1;", "Tb#6}Gy!9N~c1"),  # a brace in a bare value
    (ODBC + "PWD=Zr#5{Mw!2J~k8;", "Zr#5{Mw!2J~k8"),
    (ODBC + "PWD={Hs#4P!q}}F~x7;", "Hs#4P!q}F~x7"),  # '}}' is a brace: still open
    (ODBC + "PWD=Lc#9D!v3T~y6;Password=Lc#9D!v3T~y6;", "Lc#9D!v3T~y6"),  # given twice
    (ODBC + "PWD=x;Wy#8B!n2Q~e5;", "Wy#8B!n2Q~e5"),  # a password-like piece without a name
    (f"mssql+pyodbc://sa:Pk#3@Xm!9R~v4@{SERVER}/db?driver=FreeTDS", "Pk#3@Xm!9R~v4"),
    (f"postgresql+psycopg://u:Jd#6@Nq!2@W~s8@{SERVER}/db", "Jd#6@Nq!2@W~s8"),
    ("postgresql+psycopg://u:Rq#5U!z8C~w3@127.0.0.1:54x32/db", "Rq#5U!z8C~w3"),
    ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BPWD%3D%7BYe%235Gt%217Bp%7E4%3B",
     "Ye#5Gt!7Bp~4"),
    (f"postgresql+psycopg://u@{SERVER}/db?password=Xa%234H%21m8L~s6&password=Xa%234H%21m8L~s7",
     "Xa#4H!m8L~s6"),
    (f"mssql+pyodbc://sa:Ck#8V!t2R~f6@{SERVER}/db?driver=FreeTDS@x", "Ck#8V!t2R~f6"),
]

# (connection string, its password); each must be accepted and keep its password exactly.
VALID = [
    (ODBC + "PWD={Gq#4;Wm!}}8=Z~t};", "Gq#4;Wm!}8=Z~t"),
    (ODBC + "password={ Hv#6 L!p3 ~K };", " Hv#6 L!p3 ~K "),
    (f"mssql+pyodbc://sa:Rk%237%40Yb!2%3ANs~5%2F@{SERVER}/db?driver=FreeTDS", "Rk#7@Yb!2:Ns~5/"),
    (f"postgresql+psycopg://u:Dm#3%25Qx!8%zz~@{SERVER}/db", "Dm#3%Qx!8%zz~"),
    (f"postgresql+psycopg://u@{SERVER}/db?password=Wb%232K!r6H~y9", "Wb#2K!r6H~y9"),
    ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BSERVER%3D127.0.0.1%2C9%3BUID%3Dsa"
     "%3BPWD%3D%7BTf%235%3BJc!9%7D%7D~%7D", "Tf#5;Jc!9}~"),
    (f"mssql+pyodbc://sa:Pe#4:Vu!8/Lg~3?x@{SERVER}/db?driver=FreeTDS", "Pe#4:Vu!8/Lg~3?x"),
]


def pieces(password: str) -> set[str]:
    """Every four characters in a row of the password."""
    return {password[i:i + 4] for i in range(len(password) - 3)}


def leaks(password: str, text: str) -> list[str]:
    return sorted(p for p in pieces(password) if p in text)


def everything_under(home: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in sorted(home.rglob("*"))
                     if p.is_file())


def shown_everywhere(cli, home: Path, extra: list) -> str:
    """Every output an administrator sees, the log records, and every file of the home."""
    results = [*extra, cli("company", "list"), cli("company", "list", "--json"),
               cli("integration", "list"), cli("logs"), cli("logs", "--json"),
               cli("doctor", code=None), cli("doctor", "--json", code=None)]
    return "\n".join(r.stdout + r.stderr for r in results) + everything_under(home)


def test_the_passwords_of_the_table_are_distinctive():
    for _, password in MALFORMED + VALID:
        for piece in pieces(password):
            assert any(not (ch.isalnum() or ch in "-_=") for ch in piece), piece
    assert len(MALFORMED) >= 10


@pytest.mark.parametrize(("text", "password"), MALFORMED, ids=[p for _, p in MALFORMED])
def test_a_malformed_string_is_refused_everywhere_it_is_typed_and_leaks_nothing(
    cli, home, tmp_path, text, password
):
    assert leaks(password, unquote(text)), "the case must hold its password"
    cli("company", "add", "Sklep", "--db", f"sqlite:///{tmp_path / 'sklep.db'}")
    refused = [
        (cli("company", "add", "Firma", "--db", text, code=ExitCode.BAD_INPUT), "--db"),
        (cli("company", "add", "Firma", "--db", "sqlite:///firma.db", "--config-db", text,
             code=ExitCode.BAD_INPUT), "--config-db"),
        (cli("integration", "add", "--company", "Sklep", "--app", "eshop", "--endpoint", text,
             code=ExitCode.BAD_INPUT), "--endpoint"),
        (cli("company", "discover", "--config-db", text, code=ExitCode.BAD_INPUT),
         "--config-db"),
    ]
    for result, option in refused:
        line = result.stderr.strip()
        assert line.startswith(f"optsync: error: {option} cannot be read: ") and "\n" not in line
    assert [c["name"] for c in cli.json("company", "list")] == ["Sklep"]
    assert leaks(password, shown_everywhere(cli, home, [r for r, _ in refused])) == []


@pytest.mark.parametrize(("text", "password"), VALID, ids=[p for _, p in VALID])
def test_a_valid_tricky_string_is_accepted_keeps_its_password_and_leaks_nothing(
    cli, home, tmp_path, text, password
):
    from optsync import connstr
    from optsync.state import config as cfg
    from optsync.state.db import State

    added = cli("company", "add", "Firma", "--db", text)
    assert "warning" in added.stderr  # nothing answers there: saved anyway, with the reason
    cli("operator", "set", "ADMIN", "--no-password")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)
    assert ran.stderr.startswith("optsync: error: the database of company 'Firma' ")
    # What cron would have appended to the home's log of scheduled passes.
    (home / "logs").mkdir(exist_ok=True)
    with open(home / "logs" / "cron.log", "a", encoding="utf-8") as log:
        log.write(ran.stdout + ran.stderr)

    state = State(home)
    stored = cfg.get_company(state, "Firma")
    assert connstr.parse(stored.real_db_url(state)).password == password
    assert stored.db_url == connstr.parse(text).masked and "***" in stored.db_url
    listed = cli.json("company", "list")[0]
    assert listed["db"] == stored.db_url
    assert leaks(password, shown_everywhere(cli, home, [added, ran])) == []
    doctor = {c["check"]: c for c in json.loads(cli("doctor", "--json", code=None).stdout)}
    assert doctor["company Firma database"]["status"] == "fail"


def test_a_string_an_older_version_stored_with_a_password_tail_is_shown_wholly_masked_and_unused(
    cli, home
):
    from sqlalchemy import update

    from optsync.state import tables as t
    from optsync.state.db import State

    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", "Firma", "--db", "sqlite:///firma.db")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        "postgresql+psycopg://shop@127.0.0.1:9/shop")
    state = State(home)
    with state.engine.begin() as conn:  # what looser masking once stored for PWD={ab}Tail}
        conn.execute(update(t.companies).values(db_url=ODBC + "PWD=***Ta#il!Pw~d};"))
        conn.execute(update(t.integrations).values(
            endpoint="postgresql+psycopg://shop:***@Ta#il!Pw~d@127.0.0.1:9/shop"))
    state.dispose()
    assert cli.json("company", "list")[0]["db"] == "odbc:***"
    assert cli.json("integration", "list")[0]["endpoint"] == "postgresql+psycopg://***"
    results = [cli(*args, code=None) for args in (
        ("company", "list"), ("company", "list", "--json"), ("integration", "list"),
        ("integration", "list", "--json"), ("doctor",), ("doctor", "--json"),
        ("run", "--company", "Firma"))]
    text = "\n".join(r.stdout + r.stderr for r in results)
    assert leaks("Ta#il!Pw~d", text) == [] and "odbc:***" in text
    assert results[-1].exit_code == ExitCode.CONFIG  # never handed to a driver
    assert "can no longer read safely" in results[-1].stderr
    doctor = {c["check"]: c for c in json.loads(results[-2].stdout)}
    assert doctor["company Firma database"]["status"] == "fail"
    assert doctor["endpoint Firma/eshop"]["status"] == "fail"


def test_sql_server_urls_without_pyodbc_name_the_sqlserver_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # import pyodbc -> ImportError
    added = cli("company", "add", "Firma", "--db",
                "mssql+pyodbc://sa:Qw#1Er!2@127.0.0.1:9/CDN_Firma?driver=FreeTDS")
    assert "pip install 'optsync[sqlserver]'" in added.stderr
    cli("operator", "set", "ADMIN", "--no-password")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)
    assert ran.stderr.count("\n") == 1
    assert "needs the Python package pyodbc, which is not installed" in ran.stderr
    assert "pip install 'optsync[sqlserver]'" in ran.stderr
    doctor = {c["check"]: c for c in json.loads(cli("doctor", "--json", code=None).stdout)}
    assert doctor["pyodbc"]["status"] == "fail"
    assert "pip install 'optsync[sqlserver]'" in doctor["pyodbc"]["fix"]
    assert "optsync[sqlserver]" in doctor["company Firma database"]["detail"]


def test_postgresql_urls_without_psycopg_name_the_postgres_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    cli("company", "add", "Firma", "--db", "postgresql+psycopg://u:Po#1St!2@127.0.0.1:9/firma")
    cli("operator", "set", "ADMIN", "--no-password")
    cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    ran = cli("run", "--company", "Firma", code=ExitCode.UNAVAILABLE)
    assert ran.stderr.count("\n") == 1 and "ModuleNotFoundError" not in ran.stderr
    assert "pip install 'optsync[postgres]'" in ran.stderr and "Po#1" not in ran.stderr


def test_discover_writes_again_a_company_url_stored_in_a_doubtful_form(cli, home, tmp_path):
    from sqlalchemy import update

    from optsync.demo.sample import create_config_db
    from optsync.state import tables as t
    from optsync.state.db import State

    config = tmp_path / "optima" / "CDN_KNF_Konfiguracja.db"
    config.parent.mkdir()
    create_config_db(f"sqlite:///{config}", companies=[("Firma Alfa", "CDN_Alfa", True)],
                     operators=[("ADMIN", "Administrator", False)])
    cli("company", "discover", "--config-db", f"sqlite:///{config}")
    state = State(home)
    with state.engine.begin() as conn:
        conn.execute(update(t.companies).values(db_url=ODBC + "PWD=***Ta#il!Pw~d};"))
    state.dispose()
    again = cli.json("company", "discover", "--config-db", f"sqlite:///{config}")
    assert [r["action"] for r in again] == ["updated"]
    assert cli.json("company", "list")[0]["db"] == f"sqlite:///{config.parent / 'CDN_Alfa.db'}"
