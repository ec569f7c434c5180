"""The catalogue a head office sends: products (``Towary``) and prices (``TwrCeny``).

Products are inserted or updated by code (``Twr_Kod``); ``deleted: 1`` or ``active: 0``
deactivates one. A new product gets what Optima gives a product entered by hand: the VAT rate
for sale and purchase, unit conversion 1/1, exchange rate 1/1, and a zero price in every price
list (``TwrCeny`` rows that the price import then fills). Prices are inserted or updated by
(product, price number ``TwC_TwCNumer``); a new price row takes its kind (net or gross),
rounding and margin from its price list's definition (``DefCeny``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from optsync.entities import ENTITIES
from optsync.optima import inbound as v
from optsync.optima.inbound import Rejected
from optsync.optima.reader import HOME_CURRENCY, IN_CHUNK
from optsync.optima.writer.batch import Call, ImportResult, Target, chunks, parse_each, rejected
from optsync.optima.writer.documents import TAXED

PRODUCT = ENTITIES["products"].inbound_field
PRICE = ENTITIES["prices"].inbound_field


@dataclass
class ProductIn:
    """A validated inbound product."""

    code: str
    values: dict[str, Any]


@dataclass
class PriceIn:
    """A validated inbound price, with its product's id once known."""

    code: str
    lp: int
    value: Decimal
    currency: str
    twr_id: int = 0


def _price_lists(conn: Connection, target: Target) -> dict[int, Mapping[str, Any]]:
    d = target.t.DefCeny.c
    shape = target.shape(conn, "DefCeny")
    cols = [d[c] for c in ("DfC_Lp", "DfC_Typ", "DfC_Waluta", "DfC_Zaokraglenie", "DfC_Offset",
                           "DfC_Marza", "DfC_Aktualizacja", "DfC_Nieaktywna") if shape.has(c)]
    return {row["DfC_Lp"]: row for row in conn.execute(select(*cols)).mappings()}


def _list_currency(definition: Mapping[str, Any]) -> str:
    return (definition.get("DfC_Waluta") or "").strip() or HOME_CURRENCY


def _price_row(definition: Mapping[str, Any], twr_id: int, lp: int) -> dict[str, Any]:
    """A ``TwrCeny`` row of price list ``lp`` as Optima creates it, worth 0."""
    return {
        "TwC_TwrID": twr_id,
        "TwC_TwCNumer": lp,
        "TwC_Typ": definition.get("DfC_Typ") or 1,
        "TwC_Waluta": _list_currency(definition),
        "TwC_Wartosc": Decimal(0),
        "TwC_Zaokraglenie": definition.get("DfC_Zaokraglenie") or Decimal(0),
        "TwC_Offset": definition.get("DfC_Offset") or Decimal(0),
        "TwC_Marza": definition.get("DfC_Marza") or Decimal(0),
        "TwC_Aktualizacja": definition.get("DfC_Aktualizacja") or 0,
    }


class _Catalogue:
    """An import that needs the company's price lists (read once per call)."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def import_records(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        with self.target.engine.connect() as conn:
            self.price_lists = _price_lists(conn, self.target)
        return self.target.run(records, self._prepare, self._write)

    def _prepare(self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: Call) -> list[Any]:
        raise NotImplementedError

    def _write(self, conn: Connection, plan: Any, call: Call) -> ImportResult:
        raise NotImplementedError


class Products(_Catalogue):
    """Imports products into one company."""

    @staticmethod
    def parse(record: Mapping[str, Any]) -> ProductIn:
        active = record.get("active", 1)
        inactive = str(active).strip().lower() in ("0", "false", "no") or bool(
            record.get("deleted") and str(record.get("deleted")).strip() not in ("0", "false")
        )
        vat = v.vat_rate(record)
        rate, flag = vat if vat is not None else (Decimal(23), TAXED)
        code = v.field_text(record, PRODUCT("code"))
        return ProductIn(
            code,
            {
                "Twr_Kod": code,
                "Twr_Nazwa": v.field_text(record, PRODUCT("name")),
                "Twr_Opis": v.field_text(record, PRODUCT("description")),
                "Twr_EAN": v.field_text(record, PRODUCT("ean")),
                "Twr_JM": v.field_text(record, PRODUCT("unit")) or "szt",
                "Twr_Stawka": rate,
                "Twr_StawkaZak": rate,
                "Twr_Flaga": flag,
                "Twr_FlagaZak": flag,
                "Twr_NieAktywny": 1 if inactive else 0,
            },
        )

    def _prepare(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: Call
    ) -> list[ProductIn | ImportResult]:
        plans = parse_each(chunk, self.parse)
        w = self.target.t.Towary.c
        codes = [p.code for p in plans if isinstance(p, ProductIn)]
        for code, row in self.target.lookup(conn, w.Twr_Kod, codes, w.Twr_TwrId).items():
            call.seen.setdefault(f"twr:{code}", ImportResult("imported", row[1], code))
        return plans

    def _write(self, conn: Connection, product: ProductIn, call: Call) -> ImportResult:
        key, target, now = f"twr:{product.code}", self.target, call.now
        shape = target.shape(conn, "Towary")
        if key in call.seen:
            twr_id = call.seen[key].erp_id
            changes = {
                **product.values,
                "Twr_TS_Mod": now,
                **{k: val for k, val in target.operator_columns("Twr").items() if "OpeMod" in k},
            }
            w = target.t.Towary
            conn.execute(
                update(w)
                .where(w.c.Twr_TwrId == twr_id)
                .values({k: val for k, val in changes.items() if shape.has(k)})
            )
            return ImportResult("imported", twr_id, product.code)
        twr_id = target.insert(
            conn,
            "Towary",
            {
                **product.values,
                "Twr_Typ": 1,
                "Twr_Waluta": HOME_CURRENCY,
                "Twr_KursL": Decimal(1),
                "Twr_KursM": Decimal(1),
                "Twr_TwCNumer": min(self.price_lists, default=1),
                "Twr_JMZ": product.values["Twr_JM"],
                "Twr_TS_Zal": now,
                "Twr_TS_Mod": now,
                **target.operator_columns("Twr"),
            },
            now,
        )
        target.insert_many(
            conn, "TwrCeny", [_price_row(d, twr_id, lp) for lp, d in sorted(self.price_lists.items())], now
        )
        result = ImportResult("imported", twr_id, product.code)
        call.later(lambda: call.seen.__setitem__(key, result))
        return result


class Prices(_Catalogue):
    """Imports prices into one company."""

    @staticmethod
    def parse(record: Mapping[str, Any]) -> PriceIn:
        value = v.field_number(record, PRICE("value"))
        assert value is not None  # a required field
        raw = v.text(record, "price_list", required=True, max_len=9)
        if not (raw.isascii() and raw.isdigit()):
            raise Rejected(f"price_list must be an Optima price number, got {raw!r}")
        return PriceIn(
            code=v.field_text(record, PRICE("product_code")),
            lp=int(raw),
            value=value,
            currency=(v.field_text(record, PRICE("currency")) or HOME_CURRENCY).upper(),
        )

    def _prepare(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: Call
    ) -> list[PriceIn | ImportResult]:
        plans = parse_each(chunk, self.parse)
        t = self.target.t
        w, c = t.Towary.c, t.TwrCeny.c
        wanted = [p for p in plans if isinstance(p, PriceIn)]
        products = self.target.lookup(conn, w.Twr_Kod, [p.code for p in wanted], w.Twr_TwrId)
        ids = [products[p.code][1] for p in wanted if p.code in products]
        for part in chunks(sorted(set(ids)), IN_CHUNK):
            stmt = select(c.TwC_TwrID, c.TwC_TwCNumer, c.TwC_TwCID).where(c.TwC_TwrID.in_(list(part)))
            for twr_id, lp, twc_id in conn.execute(stmt):
                call.seen.setdefault(f"twc:{twr_id}:{lp}", ImportResult("imported", twc_id))
        out: list[PriceIn | ImportResult] = []
        for p in plans:
            if not isinstance(p, PriceIn):
                out.append(p)
            elif p.code not in products:
                out.append(rejected(f"unknown product code: {p.code}"))
            elif p.lp not in self.price_lists:
                out.append(rejected(f"unknown price list: {p.lp}"))
            elif p.currency != _list_currency(self.price_lists[p.lp]):
                out.append(rejected(
                    f"currency {p.currency} is not the currency of price list {p.lp} "
                    f"({_list_currency(self.price_lists[p.lp])}); optsync converts no prices"))
            else:
                p.twr_id = products[p.code][1]
                out.append(p)
        return out

    def _write(self, conn: Connection, p: PriceIn, call: Call) -> ImportResult:
        key, c = f"twc:{p.twr_id}:{p.lp}", self.target.t.TwrCeny
        label = f"{p.code}/{p.lp}"
        if key in call.seen:
            twc_id = call.seen[key].erp_id
            conn.execute(
                update(c).where(c.c.TwC_TwCID == twc_id).values(TwC_Wartosc=p.value, TwC_Waluta=p.currency)
            )
            return ImportResult("imported", twc_id, label)
        row = {**_price_row(self.price_lists[p.lp], p.twr_id, p.lp), "TwC_Wartosc": p.value,
               "TwC_Waluta": p.currency}
        twc_id = self.target.insert(conn, "TwrCeny", row, call.now)
        result = ImportResult("imported", twc_id, label)
        call.later(lambda: call.seen.__setitem__(key, result))
        return result
