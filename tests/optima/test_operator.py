"""The operator check before a pass and the company list of 'company discover'."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, update

from optsync.demo import sample
from optsync.errors import ConfigError, ExitCode
from optsync.optima.operator import (
    CompanyRow,
    OperatorInfo,
    check_operator,
    parse_dostep,
    read_companies,
)
from optsync.optima.tables import tables_for


@pytest.fixture
def config(db_url):
    sample.create_config_db(
        db_url,
        companies=[
            ("Demo Sp. z o.o.", "CDN_Demo", True),
            ("Stara Firma", "CDN_Stara", False),
            ("Sklep Łódź", "CDN_Lodz", True),
        ],
        operators=[
            ("ADMIN", "Administrator", False),
            ("JKOWAL", "Jan Kowalski", False),
            ("ZABLOK", "Zablokowany", True),
        ],
        bans=[("JKOWAL", "Sklep Łódź")],
    )
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


def test_an_allowed_operator_is_returned(config):
    with config.connect() as conn:
        info = check_operator(conn, "JKOWAL", company_db_name="CDN_Demo")
        assert info == OperatorInfo(info.id, "JKOWAL", "Jan Kowalski") and info.id
        assert check_operator(conn, "ADMIN").code == "ADMIN"


@pytest.mark.parametrize(
    ("acronym", "company", "message"),
    [
        ("NIKT", None, "operator NIKT does not exist in the Optima configuration database"),
        ("ZABLOK", "CDN_Demo", "operator ZABLOK is blocked"),
        ("JKOWAL", "CDN_Lodz", "operator JKOWAL is barred"),
        ("JKOWAL", "Sklep Łódź", "operator JKOWAL is barred"),
        ("JKOWAL", "/data/cdn_lodz.db", "operator JKOWAL is barred"),
        ("JKOWAL", "CDN_Nieznana", "CDN_Nieznana is not listed"),
    ],
)
def test_a_refused_operator_is_a_config_error(config, acronym, company, message):
    with config.connect() as conn, pytest.raises(ConfigError) as caught:
        check_operator(conn, acronym, company_db_name=company)
    assert message in caught.value.message
    assert caught.value.exit_code == ExitCode.CONFIG


def test_the_bar_is_checked_by_company_id_too(config):
    companies = {c.name: c for c in read_companies(config.connect())}
    with config.connect() as conn:
        with pytest.raises(ConfigError):
            check_operator(conn, "JKOWAL", company_bazid=companies["Sklep Łódź"].bazid)
        assert check_operator(conn, "ADMIN", company_bazid=companies["Sklep Łódź"].bazid)


def test_companies_are_listed_with_database_and_server(config):
    with config.connect() as conn:
        companies = read_companies(conn)
    assert [(c.name, c.database, c.server, c.active) for c in companies] == [
        ("Demo Sp. z o.o.", "CDN_Demo", sample.CONFIG_SERVER, True),
        ("Stara Firma", "CDN_Stara", sample.CONFIG_SERVER, False),
        ("Sklep Łódź", "CDN_Lodz", sample.CONFIG_SERVER, True),
    ]
    assert all(isinstance(c, CompanyRow) for c in companies)


def test_without_the_computed_columns_baz_dostep_is_parsed(config):
    t = tables_for(config)
    with config.begin() as conn:
        conn.execute(update(t.Bazy).values(Baz_NazwaBazy=None, Baz_NazwaSerwera=None))
    with config.connect() as conn:
        demo = read_companies(conn)[0]
    assert (demo.database, demo.server) == ("CDN_Demo", sample.CONFIG_SERVER)


def test_parse_dostep():
    assert parse_dostep(r"NET:CDN_Firma,SERWER\OPTIMA,NT=1") == ("CDN_Firma", r"SERWER\OPTIMA")
    assert parse_dostep("NET:baza") == ("baza", "")
