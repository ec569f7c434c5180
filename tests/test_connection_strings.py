"""The one connection-string parser: ODBC rules, URL rules, and what it refuses."""

from __future__ import annotations

import pytest

from optsync import connstr, dburl
from optsync.errors import BadInput
from optsync.secrets import join_secret, mask_url, redact, split_secret

ODBC = "odbc:DRIVER={FreeTDS};SERVER=127.0.0.1,1433;UID=sa;"

# (connection string, the password the rules read from it)
VALID = [
    (ODBC + "PWD=plain", "plain"),
    (ODBC + "PWD={Gq4;Wm}}8=Zt};DATABASE=CDN_Firma", "Gq4;Wm}8=Zt"),
    (ODBC + "pwd={}}{}}};", "}{}"),
    (ODBC + "Password={ spaces kept };", " spaces kept "),
    ("odbc:driver={FreeTDS} ; server=h ; pWd = {a;b} ; database=x", "a;b"),
    (ODBC + "PWD=", ""),
    ("mssql+pyodbc://sa:Rk7%40Yb2%3ANs5%2F@127.0.0.1:9/db?driver=FreeTDS", "Rk7@Yb2:Ns5/"),
    ("mssql+pyodbc://sa:Pe4:Vu8/Lg3?x@127.0.0.1:9/db?driver=FreeTDS", "Pe4:Vu8/Lg3?x"),
    ("postgresql+psycopg://u:Dm3%25Qx8%zz@127.0.0.1:9/db", "Dm3%Qx8%zz"),
    ("mssql+pyodbc://user@server:Az9!@server.example/db?driver=FreeTDS", "Az9!"),
    ("postgresql+psycopg://u@127.0.0.1:9/db?password=Wb2Kr6Hy9", "Wb2Kr6Hy9"),
    ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BUID%3Dsa%3BPWD%3D%7BTf5%3BJc9%7D%7D%7D",
     "Tf5;Jc9}"),
]

# (connection string, a word of the reason it is refused for)
MALFORMED = [
    (ODBC + "PWD={Qm#Rz}Kp^Wq};", "closing"),  # stray brace inside braces
    (ODBC + "PWD={Vn3Lxq8Hd2;DATABASE=x", "never closed"),
    (ODBC + "PWD=Tb6}Gy9Nc1;", "brace"),
    (ODBC + "PWD=Zr5{Mw2Jk8;", "brace"),
    (ODBC + "PWD={Hs4Pq}}Fx7;", "never closed"),  # '}}' is an escaped brace: still open
    (ODBC + "PWD=Lc9Dv3Ty6;Password=Lc9Dv3Ty6;", "more than once"),
    (ODBC + "Wy8Bn2Qe5;PWD=x", "no '='"),
    (ODBC + "{PWD}=Yo4Ha7Ze1", "name"),
    ("mssql+pyodbc://sa:Pk3@Xm9Rv4@127.0.0.1:9/db?driver=FreeTDS", "@"),
    ("postgresql+psycopg://u:Jd6@Nq2@Ws8@127.0.0.1:9/db", "@"),
    ("postgresql+psycopg://u:Rq5Uz8Cw3@127.0.0.1:54x32/db", "not a database URL"),
    ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BPWD%3D%7BYe2Gt7Bp4%3B",
     "odbc_connect"),
    ("postgresql+psycopg://u@h/db?password=Xa4Hm8Ls6&password=Xa4Hm8Ls7", "more than once"),
    ("mssql+pyodbc://sa:Nw3Jq7\nPz5@127.0.0.1:9/db", "control character"),
]


@pytest.mark.parametrize(("text", "password"), VALID)
def test_valid_strings_give_their_password_and_a_masked_form_without_it(text, password):
    parsed = connstr.parse(text)
    assert parsed.password == password
    if len(password) >= 2:
        assert password not in parsed.masked
    assert connstr.MASK in parsed.masked or password == ""


@pytest.mark.parametrize(("text", "password"), VALID)
def test_a_split_string_joins_back_to_the_same_password(text, password):
    masked, secret = split_secret(text)
    joined = join_secret(masked, secret)
    assert connstr.parse(joined).password == password
    assert connstr.shown(masked) == masked  # a clean stored form is shown as stored


@pytest.mark.parametrize(("text", "why"), MALFORMED)
def test_malformed_strings_are_refused_with_a_reason_that_quotes_nothing(text, why):
    with pytest.raises(connstr.Unparsable) as caught:
        connstr.parse(text)
    assert why in caught.value.reason
    secretish = [w for w in text.replace(";", " ").replace("@", " ").split() if len(w) >= 6]
    for word in secretish:
        assert word not in caught.value.reason


@pytest.mark.parametrize(("text", "why"), MALFORMED)
def test_input_refuses_malformed_strings_naming_the_option(text, why):
    with pytest.raises(BadInput) as caught:
        dburl.validate(text, "--db")
    assert caught.value.message.startswith("--db cannot be read: ")


@pytest.mark.parametrize(("text", "why"), MALFORMED)
def test_unreadable_strings_are_shown_wholly_masked(text, why):
    assert mask_url(text) in ("odbc:***", "mssql+pyodbc://***", "postgresql+psycopg://***")
    assert connstr.shown(text) == mask_url(text)


def test_stored_forms_of_older_versions_that_kept_a_password_tail_are_shown_wholly_masked():
    # What the looser masking of earlier versions stored for PWD={abc}Tail-of-pw}
    # and for a URL with an unescaped '@' in its password.
    assert connstr.shown(ODBC + "PWD=***Tail-of-pw};") == "odbc:***"
    assert connstr.shown("mssql+pyodbc://sa:***@Tail-of-pw@host/db") == "mssql+pyodbc://***"
    assert connstr.shown("postgresql://u:not-masked@host/db") == "postgresql://***"
    assert connstr.shown("sqlite:////srv/optima.db") == "sqlite:////srv/optima.db"


def test_masking_keeps_the_rest_of_the_string_as_typed():
    assert mask_url("postgresql://db/shop?user=a&password=s3cret&sslmode=require") == (
        "postgresql://db/shop?user=a&password=***&sslmode=require")
    assert mask_url(ODBC + "PWD={x;y};DATABASE=CDN_Firma") == (
        ODBC + "PWD=***;DATABASE=CDN_Firma")
    assert mask_url("sqlite:///C:/shop.db") == "sqlite:///C:/shop.db"


def test_odbc_values_in_braces_follow_the_odbc_rules():
    body = "DRIVER={ODBC Driver 18 for SQL Server};Server=h;Database={CDN;Firma}}1};PWD=x"
    assert connstr.odbc_get(body, "database") == "CDN;Firma}1"
    assert connstr.odbc_get(body, "DRIVER") == "ODBC Driver 18 for SQL Server"
    changed = connstr.odbc_set(body, "DATABASE", "CDN_Inna")
    assert connstr.odbc_get(changed, "Database") == "CDN_Inna"
    assert connstr.odbc_get(changed, "PWD") == "x"
    assert connstr.odbc_quote("a}b") == "{a}}b}" and connstr.odbc_quote("ab") == "ab"


def test_discover_replaces_the_database_of_an_odbc_string_by_the_rules():
    url = ODBC + "PWD={p;w};Initial Catalog={CDN_KNF;Konfiguracja}"
    changed = dburl.with_database(url, "CDN_Firma")
    assert dburl.database_name(changed) == "CDN_Firma"
    assert connstr.parse(changed).password == "p;w"


def test_free_text_is_scrubbed_of_every_spelling_of_a_password():
    split_secret("mssql+pyodbc://sa:Mx4%40Lq7%3BRv2@h/db")  # remembers Mx4@Lq7;Rv2
    text = ("login failed PWD={Mx4@Lq7;Rv2}; url mssql+pyodbc://sa:Mx4%40Lq7%3BRv2@h/db "
            "raw Mx4@Lq7;Rv2")
    cleaned = redact(text)
    for piece in ("Mx4@", "Lq7", "%40Lq", "Rv2"):
        assert piece not in cleaned
