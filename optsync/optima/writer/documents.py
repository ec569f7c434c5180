"""Orders and receipts: draft ``TraNag`` documents with their ``TraElem`` lines.

An order becomes class 308 (``RO``, kind 308000), a receipt class 305 (``PA``, 305000), both
drafts (``TrN_Bufor = 1``), numbered in the company's own series (:mod:`.numbering`). A
document is computed from net or from gross prices (``TrN_TypNB`` / ``TrE_TypNB`` 1 or 2)
following the ``price_kind`` of its lines; a document mixing the two is rejected. Unit prices
are kept in that kind, as Optima keeps them. A line's VAT rate defaults to the product card's,
and its VAT flag (``TrE_Flaga``) is 2 for a taxed line, 1 for an exempt one (``"zw"``), 4 for
one not subject to VAT (``"np"``). The buyer and the recipient are copied from the customer;
a receipt without a customer is issued to Optima's anonymous customer ``!NIEOKREŚLONY!``.
Documents are in the home currency with exchange rate 1/1 (rate type 3) dated the document
date; creation and modification stamps come from the Optima server's clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from optsync import clock
from optsync.entities import ENTITIES, Field
from optsync.errors import ConfigError
from optsync.optima import inbound as v
from optsync.optima.inbound import Rejected, line_amounts
from optsync.optima.reader import HOME_CURRENCY, IN_CHUNK
from optsync.optima.tables import full_number
from optsync.optima.writer.batch import (
    Call,
    ImportResult,
    Target,
    chunks,
    parse_each,
    rejected,
    savepoint,
    unreadable,
)
from optsync.optima.writer.customers import PARTY, Customer, Customers, NewCustomer, inline_customer
from optsync.optima.writer.numbering import TRIES, Numbers, default_series

NIEOKRESLONY = "!NIEOKREŚLONY!"  # Optima's anonymous customer
RATE_TYPE = 3  # the exchange-rate type Optima writes for documents in the home currency
NET, GROSS = 1, 2  # TrN_TypNB / TrE_TypNB
TAXED, EXEMPT, NOT_SUBJECT = 2, 1, 4  # TrE_Flaga
# Product card columns a line copies (those this Towary has).
_CARD = ("Twr_TwrId", "Twr_Nazwa", "Twr_JM", "Twr_Stawka", "Twr_Flaga", "Twr_EAN",
         "Twr_NumerKat", "Twr_Typ", "Twr_SWW", "Twr_JMCalkowite", "Twr_KodDostawcy")


@dataclass(frozen=True)
class DocKind:
    """An inbound document entity and the Optima class it becomes."""

    entity: str
    klasa: int
    rodzaj: int
    symbol: str
    detal: int
    needs_customer: bool


ORDERS = DocKind("orders", 308, 308000, "RO", 0, True)
RECEIPTS = DocKind("receipts", 305, 305000, "PA", 1, False)


@dataclass
class LineIn:
    """A validated inbound line."""

    code: str
    quantity: Decimal
    price: Decimal | None  # None: the product card's price
    kind: str  # "net" | "gross" | "" (not given)
    vat: Decimal | None
    flag: int | None  # EXEMPT / NOT_SUBJECT when the line says so


@dataclass
class DocPlan:
    """A validated document, then shaped with its products and customer."""

    guid: str
    external_id: str
    issued: datetime
    currency: str
    kind: str
    raw: list[LineIn]
    customer_code: str = ""
    inline: NewCustomer | None = None
    customer: Customer | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    net: Decimal = Decimal("0.00")
    gross: Decimal = Decimal("0.00")


class Documents:
    """Imports one kind of document into one company."""

    def __init__(self, target: Target, customers: Customers, kind: DocKind, warehouse: str | None):
        self.target = target
        self.customers = customers
        self.kind = kind
        self.warehouse = warehouse
        self.numbers = Numbers(target.t)

    def import_records(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        with self.target.engine.connect() as conn:
            self.series = default_series(conn, self.target.t, self.kind.klasa, self.kind.symbol)
            self.mag_id = self._warehouse_id(conn)
            self.nobody = (
                None if self.kind.needs_customer else self.customers.find(conn, "Knt_Kod", NIEOKRESLONY)
            )
        kept, twins = self._twins(records)
        results = self.target.run([records[i] for i in kept], self._prepare, self._write)
        out: list[ImportResult | None] = [None] * len(records)
        for i, result in zip(kept, results):
            out[i] = result
        for i, (first, reason) in twins.items():
            if reason is not None:
                out[i] = rejected(reason)
            else:  # the same document twice: it counts once
                done = out[first]
                assert done is not None
                out[i] = done if done.status == "rejected" else ImportResult(
                    "duplicate", done.erp_id, done.erp_number)
        return [r for r in out if r is not None]

    def _twins(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[int], dict[int, tuple[int, str | None]]]:
        """Records sharing one GUID in one batch: identical ones count once (the later ones
        point at the first), conflicting ones are all rejected, each naming the others."""
        groups: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            key = self._identity(record)
            if key is not None:
                groups.setdefault(key[0], []).append(i)
        twins: dict[int, tuple[int, str | None]] = {}
        for positions in groups.values():
            if len(positions) < 2:
                continue
            contents = {_content(records[i]) for i in positions}
            if len(contents) == 1:
                for i in positions[1:]:
                    twins[i] = (positions[0], None)
                continue
            external = v.field_text(records[positions[0]], self.field("external_id"))
            for i in positions:
                others = ", ".join(str(j + 1) for j in positions if j != i)
                twins[i] = (positions[0], (
                    f"{self.kind.entity} {external} comes more than once in one batch with "
                    f"different content (also record {others} of the batch); neither is imported"
                ))
        kept = [i for i in range(len(records)) if i not in twins]
        return kept, twins

    # -- validation --------------------------------------------------------------------------

    def field(self, name: str) -> Field:
        """The inbound field ``name`` of this kind's documents or of their lines."""
        return ENTITIES[self.kind.entity].inbound_field(name)

    def parse(self, record: Mapping[str, Any]) -> DocPlan:
        external_id = v.field_text(record, self.field("external_id"))
        lines = record.get("lines") or []
        if not isinstance(lines, list) or not lines:
            raise Rejected("a document needs at least one line")
        if not all(isinstance(line, Mapping) for line in lines):
            raise Rejected("every line must be an object")
        parsed = []
        for n, line in enumerate(sorted(lines, key=v.line_no), 1):
            try:
                parsed.append(self._line(line))
            except Rejected as exc:
                raise Rejected(f"line {line.get('line_no') or n}: {exc}") from None
        currency = (v.field_text(record, self.field("currency")) or HOME_CURRENCY).upper()
        if currency != HOME_CURRENCY:
            raise Rejected(
                f"currency {currency} is not the home currency {HOME_CURRENCY}: optsync has no "
                "exchange rates yet, so enter this document in Optima by hand"
            )
        customer_code = v.field_text(record, self.field("customer_code"))
        inline = None if customer_code else inline_customer(record, self.target.namespace)
        if not customer_code and inline is None and self.kind.needs_customer:
            raise Rejected("missing customer_code or customer_name")
        return DocPlan(
            guid=self.target.guid(record, self.kind.entity, external_id),
            external_id=external_id,
            issued=v.when(record, "issued_at", default=clock.local_now().replace(tzinfo=None)),
            currency=currency,
            kind="",
            raw=parsed,
            customer_code=customer_code,
            inline=inline,
        )

    def _line(self, line: Mapping[str, Any]) -> LineIn:
        code = v.field_text(line, self.field("product_code"))
        quantity = v.field_number(line, self.field("quantity"))
        assert quantity is not None  # a required field
        price = v.field_number(line, self.field("unit_price"))
        kind = v.field_text(line, self.field("price_kind"))
        vat = v.vat_rate(line)
        vat_kind = v.field_text(line, self.field("vat_kind"))
        if vat_kind:  # a line exempt (zw) or not subject to VAT (np) has no rate of its own
            if vat is not None and vat[0] != 0:
                raise Rejected(f"vat_kind {vat_kind} goes with no vat_rate (or 0), got {vat[0]}")
            vat = v.vat_rate({"vat_rate": vat_kind})
        return LineIn(code, quantity, price, kind, vat[0] if vat else None, vat[1] if vat else None)

    # -- a chunk -----------------------------------------------------------------------------

    def _prepare(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: Call
    ) -> list[DocPlan | ImportResult]:
        self.numbers.reset()  # read again within each transaction (and locked, on SQL Server)
        n = self.target.t.TraNag.c
        keys = [self._identity(r) for r in chunk]
        # An imported document is reported as such even if its record no longer validates.
        existing = self.target.lookup(
            conn, n.TrN_ImportRowId, [k[0] for k in keys if k],
            n.TrN_TrNID, n.TrN_NumerString, n.TrN_NumerNr, n.TrN_TypDokumentu, n.TrN_NumerObcy,
        )
        plans = [
            self._known(key, existing[key[0]]) if key and key[0] in existing else plan
            for key, plan in zip(keys, parse_each(chunk, self.parse))
        ]
        docs = [p for p in plans if isinstance(p, DocPlan)]
        products = self._products(conn, [ln.code for d in docs for ln in d.raw])
        customers = self.customers.by_codes(conn, [d.customer_code for d in docs if d.customer_code])
        self.customers.prefetch(conn, [d.inline for d in docs if d.inline is not None])
        out: list[DocPlan | ImportResult] = []
        for plan in plans:
            if not isinstance(plan, DocPlan):
                out.append(plan)
                continue
            try:
                out.append(self._shape(plan, products, customers))
            except Rejected as exc:
                out.append(rejected(str(exc)))
            except Exception as exc:  # noqa: BLE001 - whatever a record holds, only it fails
                out.append(rejected(unreadable(exc)))
        return out

    def _products(self, conn: Connection, codes: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The product cards of ``codes``, each with its price in its default price list."""
        t = self.target.t
        w, c = t.Towary.c, t.TwrCeny.c
        towary = self.target.shape(conn, "Towary")
        card = [w[name] for name in _CARD if towary.has(name)]
        price = t.Towary.outerjoin(
            t.TwrCeny, and_(c.TwC_TwrID == w.Twr_TwrId, c.TwC_TwCNumer == w.Twr_TwCNumer)
        )
        found: dict[str, Mapping[str, Any]] = {}
        for part in chunks(sorted(set(codes)), IN_CHUNK):
            stmt = (
                select(w.Twr_Kod, *card, c.TwC_Wartosc.label("_price"), c.TwC_Typ.label("_price_kind"))
                .select_from(price)
                .where(w.Twr_Kod.in_(list(part)))
            )
            for row in conn.execute(stmt).mappings():
                found.setdefault(row["Twr_Kod"], row)
        return found

    def _identity(self, record: Mapping[str, Any]) -> tuple[str, str] | None:
        """(GUID, external id) of a record, when it has them."""
        if not isinstance(record, Mapping):
            return None
        try:
            external_id = v.field_text(record, self.field("external_id"))
            return self.target.guid(record, self.kind.entity, external_id), external_id
        except Rejected:
            return None

    def _known(self, key: tuple[str, str], row: Sequence[Any]) -> ImportResult:
        """A record whose GUID Optima has: the same document again, or another one's GUID."""
        guid, external_id = key
        _, trn_id, numer_string, numer_nr, klasa, numer_obcy = row
        number = full_number(numer_string, numer_nr)
        if klasa == self.kind.klasa and (numer_obcy or "") == external_id:
            return ImportResult("duplicate", trn_id, number)
        return rejected(
            f"guid {guid} already belongs to Optima document {number} (id {trn_id}, "
            f"external id {numer_obcy or 'none'}), not to {self.kind.entity} {external_id}"
        )

    def _shape(
        self, doc: DocPlan, products: Mapping[str, Mapping[str, Any]], customers: Mapping[str, Customer]
    ) -> DocPlan:
        unknown = sorted({ln.code for ln in doc.raw if ln.code not in products})
        if unknown:
            raise Rejected(
                f"unknown product code{'s' if len(unknown) > 1 else ''}: " + ", ".join(unknown)
            )
        if doc.customer_code:
            if doc.customer_code not in customers:
                raise Rejected(f"unknown customer code: {doc.customer_code}")
            doc.customer = customers[doc.customer_code]
        elif doc.inline is None:
            doc.customer = self.nobody
        doc.issued = doc.issued.replace(hour=0, minute=0, second=0, microsecond=0)
        for raw in doc.raw:  # a line without a price takes the card's, as Optima does
            if raw.price is None:
                card = products[raw.code]
                if card.get("_price") is None:
                    raise Rejected(f"missing unit_price, and product {raw.code} has no price "
                                   "in its default price list")
                raw.price = Decimal(card["_price"])
                raw.kind = raw.kind or ("gross" if card.get("_price_kind") == GROSS else "net")
            raw.kind = raw.kind or "net"
        kinds = {raw.kind for raw in doc.raw}
        if len(kinds) > 1:
            raise Rejected(
                "the document mixes net and gross prices; Optima computes a document either "
                "from net or from gross prices: give every line the same price_kind"
            )
        doc.kind = kinds.pop()
        typ_nb = GROSS if doc.kind == "gross" else NET
        for lp, raw in enumerate(doc.raw, 1):
            card = products[raw.code]
            rate = raw.vat if raw.vat is not None else Decimal(card["Twr_Stawka"])
            flag = raw.flag or (
                card.get("Twr_Flaga") if raw.vat is None and card.get("Twr_Flaga") in (EXEMPT, NOT_SUBJECT)
                else TAXED
            )
            assert raw.price is not None
            net, gross = line_amounts(raw.quantity, raw.price, rate, raw.kind)
            where = f"line {lp}"
            v.fits_column(net, f"{where}: net value", "TraElem", "TrE_WartoscNetto")
            v.fits_column(gross, f"{where}: gross value", "TraElem", "TrE_WartoscBrutto")
            if raw.price > 0 and (gross if raw.kind == "gross" else net) == 0:
                raise Rejected(f"{where}: {raw.quantity} x {raw.price} is worth less than a grosz")
            doc.net += net
            doc.gross += gross
            doc.lines.append(
                {
                    "TrE_Lp": lp,
                    "TrE_TypDokumentu": self.kind.klasa,
                    "TrE_TwrId": card["Twr_TwrId"],
                    "TrE_TwrKod": raw.code,
                    "TrE_TwrNazwa": card["Twr_Nazwa"],
                    "TrE_TwrEAN": card.get("Twr_EAN", ""),
                    "TrE_TwrNumerKat": card.get("Twr_NumerKat", ""),
                    "TrE_TwrKodDostawcy": card.get("Twr_KodDostawcy", ""),
                    "TrE_TwrSWW": card.get("Twr_SWW", ""),
                    "TrE_TwrTyp": card.get("Twr_Typ", 1),
                    "TrE_Jm": card["Twr_JM"],
                    "TrE_JmZ": card["Twr_JM"],
                    "TrE_JMPrzelicznikL": Decimal(1),
                    "TrE_JMPrzelicznikM": Decimal(1),
                    "TrE_JmCalkowite": card.get("Twr_JMCalkowite", 0),
                    "TrE_Ilosc": raw.quantity,
                    "TrE_IloscJM": raw.quantity,
                    "TrE_Cena0": raw.price,
                    "TrE_CenaT": raw.price,
                    "TrE_CenaW": raw.price,
                    "TrE_Cena0WD": raw.price,
                    "TrE_CenaWWD": raw.price,
                    "TrE_Rabat": Decimal(0),
                    "TrE_Stawka": rate,
                    "TrE_Flaga": flag,
                    "TrE_TypNB": typ_nb,
                    "TrE_WartoscNetto": net,
                    "TrE_WartoscBrutto": gross,
                    "TrE_WartoscNettoWal": net,
                    "TrE_WartoscBruttoWal": gross,
                    "TrE_Waluta": doc.currency,
                    "TrE_KursNumer": RATE_TYPE,
                    "TrE_KursL": Decimal(1),
                    "TrE_KursM": Decimal(1),
                    "TrE_DataDok": doc.issued,
                    "TrE_DataOpe": doc.issued,
                    "TrE_MagId": self.mag_id,
                    "TrE_Aktywny": 1,
                }
            )
        v.fits_column(doc.gross, "the document's gross total", "TraNag", "TrN_RazemBrutto")
        v.fits_column(doc.net, "the document's net total", "TraNag", "TrN_RazemNetto")
        return doc

    # -- one document ------------------------------------------------------------------------

    def _write(self, conn: Connection, doc: DocPlan, call: Call) -> ImportResult:
        if doc.guid in call.seen:
            first = call.seen[doc.guid]
            return ImportResult("duplicate", first.erp_id, first.erp_number)
        customer = doc.customer
        if doc.inline is not None:
            customer, _ = self.customers.resolve(conn, doc.inline, call)
        header = self._header(doc, customer, call.now)
        numer_string = self.series.number_string(doc.issued)
        klasa = self.kind.klasa
        # A refused INSERT leaves the transaction usable on SQLite and SQL Server; PostgreSQL
        # aborts it, so there the attempt gets a savepoint of its own.
        guard = ((lambda: savepoint(conn, "optsync_number")) if conn.dialect.name == "postgresql"
                 else nullcontext)
        for _ in range(TRIES):
            number = self.numbers.next(conn, klasa, numer_string)
            try:
                with guard():
                    trn_id = self.target.insert(
                        conn,
                        "TraNag",
                        {**header, "TrN_NumerString": numer_string, "TrN_NumerNr": number},
                        call.now,
                    )
                break
            except IntegrityError:
                if not self.numbers.taken(conn, klasa, numer_string, number):
                    raise
        else:
            raise Rejected(
                f"no free document number in series {numer_string!r} after {TRIES} tries "
                "(Optima users are adding documents); it is tried again on the next pass"
            )
        self.target.insert_many(conn, "TraElem", [{**ln, "TrE_TrNId": trn_id} for ln in doc.lines], call.now)
        result = ImportResult("imported", trn_id, full_number(numer_string, number))

        def remember() -> None:
            self.numbers.used(klasa, numer_string, number)
            call.seen[doc.guid] = result

        call.later(remember)
        return result

    def _header(self, doc: DocPlan, customer: Customer | None, now: datetime) -> dict[str, Any]:
        day = doc.issued
        return {
            "TrN_TypDokumentu": self.kind.klasa,
            "TrN_Rodzaj": self.kind.rodzaj,
            "TrN_Bufor": 1,
            "TrN_Anulowany": 0,
            "TrN_Detal": self.kind.detal,
            "TrN_Export": 0,
            "TrN_Korekta": 0,
            "TrN_DDfId": self.series.ddf_id,
            "TrN_NumerObcy": doc.external_id,
            "TrN_ImportRowId": doc.guid,
            "TrN_ImportAppId": self.target.app_id,
            "TrN_DataDok": day,
            "TrN_DataWys": day,
            "TrN_DataOpe": day,
            "TrN_Termin": day,
            "TrN_DataKur": day,
            "TrN_KursNumer": RATE_TYPE,
            "TrN_KursL": Decimal(1),
            "TrN_KursM": Decimal(1),
            "TrN_Waluta": doc.currency,
            "TrN_TypNB": GROSS if doc.kind == "gross" else NET,
            "TrN_MagZrdId": self.mag_id,
            "TrN_RazemNetto": doc.net,
            "TrN_RazemBrutto": doc.gross,
            "TrN_RazemVAT": doc.gross - doc.net,
            "TrN_RazemNettoWal": doc.net,
            "TrN_RazemBruttoWal": doc.gross,
            "TrN_RazemVATWal": doc.gross - doc.net,
            "TrN_TS_Zal": now,
            "TrN_TS_Mod": now,
            **party(customer),
            **self.target.operator_columns("TrN"),
        }

    def _warehouse_id(self, conn: Connection) -> int | None:
        m = self.target.t.Magazyny.c
        stmt = select(m.Mag_MagId).order_by(m.Mag_MagId)
        if self.warehouse:
            mag_id = conn.scalar(stmt.where(m.Mag_Symbol == self.warehouse))
            if mag_id is None:
                raise ConfigError(
                    f"warehouse {self.warehouse!r} does not exist in Optima",
                    "Give the integration the symbol of a warehouse from Optima's warehouse list",
                )
            return int(mag_id)
        return conn.scalar(stmt.where(m.Mag_NieAktywny == 0).limit(1))


def _content(record: Mapping[str, Any]) -> str:
    """A record's content for comparison, without an inbox row's own ``id``."""
    try:
        return json.dumps({k: val for k, val in record.items() if k != "id"}, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return f"unreadable {id(record)}"


def party(customer: Customer | None) -> dict[str, Any]:
    """The buyer (``TrN_Pod*``) and recipient (``TrN_Odb*``) columns copied from a customer."""
    if customer is None:
        return {"TrN_PodID": None, "TrN_PodmiotTyp": None, "TrN_OdbID": None, "TrN_OdbiorcaTyp": None}
    card = customer.card
    values: dict[str, Any] = {
        "TrN_PodID": customer.id,
        "TrN_PodmiotTyp": 1,
        "TrN_OdbID": customer.id,
        "TrN_OdbiorcaTyp": 1,
        "TrN_PodNipE": card.get("Knt_Nip") or "",
        "TrN_OdbNipE": card.get("Knt_Nip") or "",
        "TrN_PodmiotGLN": card.get("Knt_GLN") or "",
        "TrN_OdbiorcaGLN": card.get("Knt_GLN") or "",
        "TrN_PodatekVat": card.get("Knt_PodatekVat") or 0,
        "TrN_Finalny": card.get("Knt_Finalny") or 0,
    }
    for name in PARTY:
        value = card.get(f"Knt_{name}")
        if value is not None:
            values[f"TrN_Pod{name}"] = value
            values[f"TrN_Odb{name}"] = value
    return values

