"""Optima-shaped sample databases (SQLite or PostgreSQL) for the demo, the tests and the benchmark.

The products, customers, price lists, warehouses and document definitions come from the
package's ``data/catalogue.json``. Everything is deterministic for a given ``seed``: names, tax
IDs, prices, stock and timestamps (which start at :data:`BASE_TIME`, not at the wall clock).
Refuses a database that already holds Optima data, so it can never overwrite a real company.

Rows are complete as Optima writes them (every NOT NULL column named, through the same helper
the writer uses, :func:`optsync.optima.rows.static_shape`). The approved and cancelled sample
documents, which optsync itself never writes, are inserted with that helper; the draft receipt
goes through :class:`optsync.optima.writer.OptimaWriter`, as imported receipts do.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any

from sqlalchemy import Engine, Insert, Table, create_engine, func, insert, select
from sqlalchemy.engine import Connection

from optsync.errors import BadInput
from optsync.optima.inbound import code_base, line_amounts, unique_code
from optsync.optima.operator import OperatorInfo
from optsync.optima.rows import static_shape
from optsync.optima.tables import (
    OptimaTables,
    create_optima_schema,
    full_number,
    new_id,
    optima_tables,
)
from optsync.optima.writer import NIEOKRESLONY, OptimaWriter

BASE_TIME = datetime(2026, 1, 5, 8, 0, 0)
CONFIG_SERVER = r"SERWER\OPTIMA"
CONFIG_DATABASE = "CDN_KNF_Konfiguracja"
# The till that left a draft receipt in each sample company (its import application id).
DRAFT_APP_ID = "KASA2"

_CENT = Decimal("0.01")


def load_catalogue() -> dict[str, Any]:
    """The sample data of ``optsync/demo/data/catalogue.json`` (a package resource)."""
    source = resources.files("optsync.demo") / "data" / "catalogue.json"
    return json.loads(source.read_text(encoding="utf-8"))


DATA = load_catalogue()

# code, name, unit, VAT rate, retail price (gross, price list 1)
CATALOG: tuple[tuple[str, str, str, int, str], ...] = tuple(
    (p["code"], p["name"], p["unit"], p["vat_rate"], p["retail_price"]) for p in DATA["products"]
)

# Nazwa1, Nazwa2, street, house, flat, postal code, city, e-mail domain, tax office prefix
CUSTOMERS: tuple[tuple[str, str, str, str, str, str, str, str, str], ...] = tuple(
    (c["name1"], c["name2"], c["street"], c["house"], c["flat"], c["postal_code"], c["city"],
     c["email_domain"], c["tax_office_prefix"])
    for c in DATA["customers"]
)

# class, symbol, name
DOC_DEFINITIONS: tuple[tuple[int, str, str], ...] = tuple(
    (d["class"], d["symbol"], d["name"]) for d in DATA["document_definitions"]
)

NET, GROSS = 1, 2  # DfC_Typ / TwC_Typ: prices net or gross
PRICE_LISTS: tuple[dict[str, Any], ...] = tuple(DATA["price_lists"])


def _engine(url: str | Engine) -> Engine:
    return url if isinstance(url, Engine) else create_engine(url)


def _refuse_if_filled(conn: Connection, table: Table) -> None:
    if conn.scalar(select(func.count()).select_from(table)):
        raise BadInput(
            f"the database already holds Optima data ({table.name} is not empty)",
            "Use a new, empty database for sample data",
        )


def complete_row(table_name: str, values: dict[str, Any], now: datetime = BASE_TIME) -> dict[str, Any]:
    """A complete row of an Optima table (every NOT NULL column named) from ``values``."""
    return static_shape(getattr(optima_tables(None), table_name)).row(values, now)


def insert_statement(table: Table) -> Insert:
    """An INSERT into ``table`` that takes the complete rows of :func:`complete_row`."""
    return insert(static_shape(table).table)


def insert_complete(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert complete rows (every NOT NULL column named, as Optima writes them) with
    executemany, one statement per distinct set of keys, in order."""
    shape = static_shape(table)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(shape.row(row, BASE_TIME))
    for group in groups.values():
        conn.execute(insert(shape.table), group)


def _round2(value: Decimal) -> Decimal:
    return value.quantize(_CENT, ROUND_HALF_UP)


def nip_check_digit(first9: str) -> int:
    """Return the Polish NIP check digit of nine digits (10 means no valid NIP exists)."""
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    return sum(int(d) * w for d, w in zip(first9, weights)) % 11


def _nip(rng: random.Random, prefix: str) -> str:
    while True:
        first9 = prefix + "".join(str(rng.randrange(10)) for _ in range(9 - len(prefix)))
        check = nip_check_digit(first9)
        if check != 10:
            digits = first9 + str(check)
            return f"{digits[:3]}-{digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def _ean13(rng: random.Random) -> str:
    body = "590" + "".join(str(rng.randrange(10)) for _ in range(9))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def create_config_db(
    url: str | Engine,
    companies: Iterable[tuple[str, str, bool]],
    operators: Iterable[tuple[str, str, bool]],
    bans: Iterable[tuple[str, str]] = (),
    *,
    server: str = CONFIG_SERVER,
) -> None:
    """Create an Optima configuration database listing companies, operators and bans.

    ``companies`` are ``(Baz_Nazwa, database name, active)``, ``operators`` ``(Ope_Kod,
    Ope_Nazwisko, blocked)``, ``bans`` ``(Ope_Kod, Baz_Nazwa)`` pairs barring an operator from
    a company. ``Baz_Dostep`` is ``NET:<database>,<server>,NT=1``.
    """
    engine = _engine(url)
    t = create_optima_schema(engine, "config")
    with engine.begin() as conn:
        _refuse_if_filled(conn, t.Bazy)
        _refuse_if_filled(conn, t.Operatorzy)
        insert_complete(
            conn,
            t.Bazy,
            [
                {
                    "Baz_Nazwa": name,
                    "Baz_Dostep": f"NET:{database},{server},NT=1",
                    "Baz_NazwaBazy": database,
                    "Baz_NazwaSerwera": server,
                    "Baz_Nieaktywna": 0 if active else 1,
                    "Baz_Opis": f"Firma {name}",
                }
                for name, database, active in companies
            ],
        )
        insert_complete(
            conn,
            t.Operatorzy,
            [
                {
                    "Ope_Kod": code,
                    "Ope_Nazwisko": name,
                    "Ope_Nieaktywny": 1 if blocked else 0,
                    "Ope_Administrator": 1 if code.upper() == "ADMIN" else 0,
                }
                for code, name, blocked in operators
            ],
        )
        ope_ids = dict(conn.execute(select(t.Operatorzy.c.Ope_Kod, t.Operatorzy.c.Ope_OpeID)).all())
        baz_ids = dict(conn.execute(select(t.Bazy.c.Baz_Nazwa, t.Bazy.c.Baz_BazID)).all())
        insert_complete(
            conn,
            t.BazZakazy,
            [{"BZa_OpeID": ope_ids[op], "BZa_BazID": baz_ids[company]} for op, company in bans],
        )
    if not isinstance(url, Engine):
        engine.dispose()


def _base_rows(conn: Connection, t: OptimaTables) -> dict[str, int]:
    """Insert price lists, warehouses, document definitions and SystemCDN; return warehouse ids."""
    insert_complete(
        conn,
        t.DefCeny,
        [
            {
                "DfC_Lp": price_list["number"],
                "DfC_Nazwa": price_list["name"],
                "DfC_Nieaktywna": 1 if price_list["inactive"] else 0,
                "DfC_Typ": GROSS if price_list["kind"] == "gross" else NET,
                "DfC_Waluta": "PLN",
            }
            for price_list in PRICE_LISTS
        ],
    )
    insert_complete(
        conn,
        t.Magazyny,
        [
            {
                "Mag_Symbol": warehouse["symbol"],
                "Mag_Nazwa": warehouse["name"],
                "Mag_TS_Mod": BASE_TIME,
                "Mag_TS_Zal": BASE_TIME,
            }
            for warehouse in DATA["warehouses"]
        ],
    )
    insert_complete(
        conn,
        t.DokDefinicje,
        [
            {
                "DDf_Klasa": klasa,
                "DDf_Symbol": symbol,
                "DDf_Nazwa": nazwa,
                "DDf_Numeracja": "@symbol/@numerS/@rok",
            }
            for klasa, symbol, nazwa in DOC_DEFINITIONS
        ],
    )
    insert_complete(
        conn,
        t.SystemCDN,
        [
            {"SYS_ID": 1001, "SYS_Wartosc": CONFIG_SERVER},
            {"SYS_ID": 1002, "SYS_Wartosc": CONFIG_DATABASE},
        ],
    )
    return dict(conn.execute(select(t.Magazyny.c.Mag_Symbol, t.Magazyny.c.Mag_MagId)).all())


def _products(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        code, name, unit, vat, _ = CATALOG[i % len(CATALOG)]
        if i >= len(CATALOG):
            series = i // len(CATALOG) + 1
            code, name = f"{code}-{series}", f"{name} (partia {series})"
        ts = BASE_TIME + timedelta(minutes=7 * i)
        rows.append(
            {
                "Twr_Kod": code,
                "Twr_Nazwa": name,
                "Twr_Opis": f"{name}. Produkt z katalogu {2026 + i % 2}.",
                "Twr_EAN": _ean13(rng),
                "Twr_JM": unit,
                "Twr_Stawka": Decimal(vat),
                "Twr_StawkaZak": Decimal(vat),
                "Twr_Flaga": 2,
                "Twr_FlagaZak": 2,
                "Twr_NieAktywny": 1 if i % 9 == 8 else 0,
                "Twr_Typ": 1,
                "Twr_Waluta": "PLN",
                "Twr_TwCNumer": 1,
                "Twr_TS_Zal": ts,
                "Twr_TS_Mod": ts,
            }
        )
    return rows


def _retail_price(i: int, rng: random.Random) -> Decimal:
    base = Decimal(CATALOG[i % len(CATALOG)][4])
    return base if i < len(CATALOG) else _round2(base * Decimal(rng.randint(90, 110)) / 100)


def _prices(rng: random.Random, twr_ids: list[int]) -> list[dict[str, Any]]:
    rows = []
    for i, twr_id in enumerate(twr_ids):
        retail = _retail_price(i, rng)
        for price_list in PRICE_LISTS:
            rows.append(
                {
                    "TwC_TwrID": twr_id,
                    "TwC_TwCNumer": price_list["number"],
                    "TwC_Wartosc": _round2(retail * Decimal(price_list["share_of_retail"])),
                    "TwC_Waluta": "PLN",
                    "TwC_Typ": GROSS if price_list["kind"] == "gross" else NET,
                }
            )
    return rows


def _stock(rng: random.Random, twr_ids: list[int], mags: dict[str, int]) -> list[dict[str, Any]]:
    """Three dated rows per product and warehouse (the last is current) plus dated totals."""
    rows = []
    dates = [BASE_TIME - timedelta(days=d) for d in (30, 12, 1)]
    for twr_id in twr_ids:
        totals = [Decimal(0)] * len(dates)
        for symbol, mag_id in sorted(mags.items()):
            if symbol == "SKLEP" and rng.random() < 0.25:
                continue  # not every product is on the shop floor
            for n, day in enumerate(dates):
                qty = Decimal(rng.randint(0, 400))
                totals[n] += qty
                rows.append(
                    {
                        "TwI_TwrId": twr_id,
                        "TwI_MagId": mag_id,
                        "TwI_Data": day,
                        "TwI_Ilosc": qty,
                        "TwI_Rezerwacje": Decimal(rng.randint(0, 5)),
                        "TwI_Wartosc": Decimal(0),
                    }
                )
        for n, day in enumerate(dates):
            rows.append(
                {
                    "TwI_TwrId": twr_id,
                    "TwI_MagId": None,
                    "TwI_Data": day,
                    "TwI_Ilosc": totals[n],
                    "TwI_Rezerwacje": Decimal(0),
                }
            )
    return rows


def _customers(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = [
        {
            "Knt_Kod": NIEOKRESLONY,
            "Knt_Nazwa1": "Nieokreślony",
            "Knt_Kraj": "Polska",
            "Knt_TS_Zal": BASE_TIME,
            "Knt_TS_Mod": BASE_TIME,
        }
    ]
    for i in range(count):
        n1, n2, street, house, flat, postal, city, domain, prefix = CUSTOMERS[i % len(CUSTOMERS)]
        code = unique_code(code_base(n1), {str(r["Knt_Kod"]) for r in rows})
        ts = BASE_TIME + timedelta(minutes=11 * i, seconds=30)
        rows.append(
            {
                "Knt_Kod": code,
                "Knt_Nazwa1": n1,
                "Knt_Nazwa2": n2,
                "Knt_Nip": _nip(rng, prefix),
                "Knt_NipKraj": "PL",
                "Knt_Ulica": street,
                "Knt_NrDomu": house,
                "Knt_NrLokalu": flat,
                "Knt_KodPocztowy": postal,
                "Knt_Miasto": city,
                "Knt_Kraj": "Polska",
                "Knt_Email": f"biuro@{domain}",
                "Knt_Telefon1": f"+48 {rng.randint(500, 899)} "
                f"{rng.randint(100, 999)} {rng.randint(100, 999)}",
                "Knt_Nieaktywny": 1 if i % 7 == 6 else 0,
                "Knt_TS_Zal": ts,
                "Knt_TS_Mod": ts,
            }
        )
    return rows


def _documents(
    conn: Connection, t: OptimaTables, rng: random.Random, count: int, mag_id: int
) -> list[dict[str, Any]]:
    """Insert ``count`` approved FS/PA documents and one cancelled FS; return the draft receipt
    a till left in Optima's buffer, as an inbound receipt for the writer (none without products).
    """
    products = conn.execute(
        select(
            t.Towary.c.Twr_TwrId,
            t.Towary.c.Twr_Kod,
            t.Towary.c.Twr_Nazwa,
            t.Towary.c.Twr_JM,
            t.Towary.c.Twr_Stawka,
        )
        .where(t.Towary.c.Twr_NieAktywny == 0)
        .order_by(t.Towary.c.Twr_TwrId)
    ).all()
    customers = conn.execute(
        select(
            t.Kontrahenci.c.Knt_KntId,
            t.Kontrahenci.c.Knt_Nazwa1,
            t.Kontrahenci.c.Knt_Ulica,
            t.Kontrahenci.c.Knt_Miasto,
            t.Kontrahenci.c.Knt_KodPocztowy,
        ).order_by(t.Kontrahenci.c.Knt_KntId)
    ).all()
    numbers = {302: 0, 305: 0}
    kinds = [(302 if i % 2 == 0 else 305, 0, 0) for i in range(count)] + [(305, 1, 0), (302, 0, 1)]
    drafts: list[dict[str, Any]] = []
    for i, (cls, bufor, anulowany) in enumerate(kinds):
        symbol = "FS" if cls == 302 else "PA"
        day = BASE_TIME + timedelta(days=i % 5, hours=i)
        customer = customers[1 + i % (len(customers) - 1)] if cls == 302 else customers[0]
        chosen = rng.sample(products, k=min(len(products), rng.randint(1, 4)))
        lines, net_sum, gross_sum = [], Decimal(0), Decimal(0)
        for lp, (twr_id, kod, nazwa, jm, stawka) in enumerate(chosen, start=1):
            qty = Decimal(rng.randint(1, 12))
            price = _round2(Decimal(rng.randint(99, 9999)) / 100)
            net, gross = line_amounts(qty, price, stawka, "net")
            net_sum, gross_sum = net_sum + net, gross_sum + gross
            lines.append(
                {
                    "TrE_Lp": lp,
                    "TrE_TwrId": twr_id,
                    "TrE_TwrKod": kod,
                    "TrE_TwrNazwa": nazwa,
                    "TrE_Jm": jm,
                    "TrE_Ilosc": qty,
                    "TrE_Cena0": price,
                    "TrE_CenaT": price,
                    "TrE_CenaW": price,
                    "TrE_Stawka": stawka,
                    "TrE_WartoscNetto": net,
                    "TrE_WartoscBrutto": gross,
                    "TrE_TypDokumentu": cls,
                    "TrE_DataDok": day,
                    "TrE_MagId": mag_id,
                    "TrE_Aktywny": 1,
                }
            )
        if bufor:
            if lines:
                drafts.append(_draft_receipt(i + 1, day, lines))
            continue
        numbers[cls] += 1
        numer_string = f"{symbol}/@numerS/{day.year}"
        header = {
            "TrN_TypDokumentu": cls,
            "TrN_Rodzaj": cls * 1000,
            "TrN_Bufor": bufor,
            "TrN_Anulowany": anulowany,
            "TrN_Detal": 1 if cls == 305 else 0,
            "TrN_NumerNr": numbers[cls],
            "TrN_NumerString": numer_string,
            "TrN_NumerPelny": full_number(numer_string, numbers[cls]),
            "TrN_NumerObcy": "",
            "TrN_DataDok": day,
            "TrN_DataWys": day,
            "TrN_DataOpe": day,
            "TrN_Termin": day,
            "TrN_PodID": customer[0],
            "TrN_PodmiotTyp": 1,
            "TrN_PodNazwa1": customer[1],
            "TrN_PodUlica": customer[2],
            "TrN_PodMiasto": customer[3],
            "TrN_PodKodPocztowy": customer[4],
            "TrN_Waluta": "PLN",
            "TrN_MagZrdId": mag_id,
            "TrN_RazemNetto": net_sum,
            "TrN_RazemBrutto": gross_sum,
            "TrN_RazemVAT": gross_sum - net_sum,
            "TrN_OpeZalKod": "ADMIN",
            "TrN_TS_Zal": day,
            "TrN_TS_Mod": day + timedelta(minutes=5),
        }
        shape = static_shape(t.TraNag)
        trn_id = new_id(conn.execute(insert(shape.table), shape.row(header, day)))
        insert_complete(conn, t.TraElem, [{**line, "TrE_TrNId": trn_id} for line in lines])
    return drafts


def _draft_receipt(n: int, day: datetime, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The inbound receipt of a till for the sample document lines ``lines`` (net prices)."""
    return {
        "external_id": f"{DRAFT_APP_ID}/PAR/{n:04d}",
        "issued_at": day,
        "currency": "PLN",
        "lines": [
            {
                "line_no": line["TrE_Lp"],
                "product_code": line["TrE_TwrKod"],
                "quantity": line["TrE_Ilosc"],
                "unit_price": line["TrE_Cena0"],
                "price_kind": "net",
            }
            for line in lines
        ],
    }


def _write_drafts(engine: Engine, t: OptimaTables, receipts: list[dict[str, Any]]) -> None:
    """Write draft receipts with the writer the imports use, stamped 5 minutes after they were
    issued, as the sample's administrator."""
    if not receipts:
        return
    stamp = max(r["issued_at"] for r in receipts) + timedelta(minutes=5)
    writer = OptimaWriter(
        engine, t, OperatorInfo(None, "ADMIN", "Administrator"), app_id=DRAFT_APP_ID,
        namespace="sample", warehouse=DATA["warehouses"][0]["symbol"], clock=lambda _: stamp,
    )
    for receipt, result in zip(receipts, writer.import_receipts(receipts)):
        if result.status != "imported":
            raise RuntimeError(
                f"the sample draft receipt {receipt['external_id']} was not written: {result.error}"
            )


def create_company_db(
    url: str | Engine,
    *,
    seed: int = 0,
    products: int = 40,
    customers: int = 15,
    documents: int = 5,
) -> None:
    """Create an Optima company database filled with deterministic Polish sample data.

    It holds ``products`` products (every ninth inactive) priced in price lists 1 Detaliczna,
    2 Hurtowa and 3 (inactive, never to be exported), dated stock history in warehouses MAG and
    SKLEP plus all-warehouse totals, ``customers`` customers (every seventh inactive) plus
    Optima's ``!NIEOKREŚLONY!``, ``documents`` approved FS/PA documents, one cancelled FS, one
    draft PA (written by the writer, as a till's receipt awaiting approval), and the document
    definitions FS, PA, RO and others.
    """
    rng = random.Random(seed)
    engine = _engine(url)
    t = create_optima_schema(engine, "company")
    with engine.begin() as conn:
        _refuse_if_filled(conn, t.Towary)
        mags = _base_rows(conn, t)
        insert_complete(conn, t.Towary, _products(rng, products))
        twr_ids = list(conn.scalars(select(t.Towary.c.Twr_TwrId).order_by(t.Towary.c.Twr_TwrId)))
        insert_complete(conn, t.TwrCeny, _prices(rng, twr_ids))
        insert_complete(conn, t.TwrIlosci, _stock(rng, twr_ids, mags))
        insert_complete(conn, t.Kontrahenci, _customers(rng, customers))
        drafts = _documents(conn, t, rng, documents, mags["MAG"])
    _write_drafts(engine, t, drafts)
    if not isinstance(url, Engine):
        engine.dispose()


def bulk_company_db(url: str | Engine, n: int, *, chunk: int = 20_000) -> None:
    """Create a company database with ``n`` products, ``n`` prices and ``n`` stock rows, fast."""
    engine = _engine(url)
    t = create_optima_schema(engine, "company")
    with engine.begin() as conn:
        _refuse_if_filled(conn, t.Towary)
        mag_id = _base_rows(conn, t)["MAG"]
    shapes = {name: static_shape(getattr(t, name)) for name in ("Towary", "TwrCeny", "TwrIlosci")}

    def complete(name: str, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [shapes[name].row(row, BASE_TIME) for row in rows]

    for start in range(0, n, chunk):
        ids = range(start + 1, min(n, start + chunk) + 1)
        with engine.begin() as conn:
            conn.execute(
                insert(shapes["Towary"].table),
                complete("Towary", [
                    {
                        "Twr_TwrId": i,
                        "Twr_Kod": f"P{i:07d}",
                        "Twr_Nazwa": f"Produkt testowy {i}",
                        "Twr_EAN": f"590{i:010d}",
                        "Twr_JM": "szt",
                        "Twr_Stawka": Decimal(23),
                        "Twr_TS_Zal": BASE_TIME,
                        "Twr_TS_Mod": BASE_TIME + timedelta(seconds=i),
                    }
                    for i in ids
                ]),
            )
            conn.execute(
                insert(shapes["TwrCeny"].table),
                complete("TwrCeny", [
                    {
                        "TwC_TwrID": i,
                        "TwC_TwCNumer": 1,
                        "TwC_Wartosc": Decimal(i % 10_000) / 100,
                        "TwC_Waluta": "PLN",
                    }
                    for i in ids
                ]),
            )
            conn.execute(
                insert(shapes["TwrIlosci"].table),
                complete("TwrIlosci", [
                    {
                        "TwI_TwrId": i,
                        "TwI_MagId": mag_id,
                        "TwI_Data": BASE_TIME,
                        "TwI_Ilosc": Decimal(i % 500),
                        "TwI_Rezerwacje": Decimal(0),
                    }
                    for i in ids
                ]),
            )
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # explicit ids above bypassed the serial sequence
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('\"CDN\".\"Towary\"', 'Twr_TwrId'), "
                'COALESCE(MAX("Twr_TwrId"), 1)) FROM "CDN"."Towary"'
            )
    if not isinstance(url, Engine):
        engine.dispose()
