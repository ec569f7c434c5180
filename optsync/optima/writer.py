"""Atomic, idempotent imports of inbound records into Optima (SPEC 3; inbox fields of SPEC 4.1).

Every ``import_*`` method takes a list of records and returns one :class:`ImportResult` per
record, in order. Records are written in chunks of ``batch_size``, one transaction per chunk
and a SAVEPOINT per record, so a record lands whole or not at all and a bad record never takes
good ones down. Validation and the batched look-ups (one ``IN`` query per chunk) come first,
so most rejections never touch the database.

Documents (orders: ``TraNag`` class 308 / 308000, receipts: class 305 / 305000, both drafts,
``TrN_Bufor = 1``) are numbered ``<symbol>/@numerS/<year>`` in ``TrN_NumerString`` (the
symbol of the class's first active ``DokDefinicje`` row, else ``RO`` / ``PA``) with
``TrN_NumerNr`` = the highest number of that class and pattern + 1, giving full numbers like
``RO/12/2026``. Dates are the document date at midnight. Unit prices are ``net`` unless a
line says ``price_kind: "gross"``; the line's VAT rate defaults to the product's
``Twr_Stawka``. Lines are stored with the net unit price in ``TrE_Cena0/CenaT/CenaW``.

Customers are matched by ``Knt_ImportRowId`` (the record's ``guid``, else
:func:`import_guid`), then by tax id (digits only); a match is reported as ``duplicate`` and
left unchanged (Optima stays the master of customer data), otherwise a customer is inserted
with a code made from its name (:func:`code_base`, unique with a ``-2`` suffix).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Engine, event, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InternalError

from optsync.errors import ConfigError
from optsync.optima import inbound as v
from optsync.optima.inbound import Rejected, import_guid, line_amounts
from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import OptimaTables, full_number, new_id

__all__ = [
    "ImportResult",
    "OptimaWriter",
    "Rejected",
    "ascii_upper",
    "import_guid",
    "line_amounts",
    "transactional",
]
ascii_upper = v.ascii_upper

Status = Literal["imported", "duplicate", "rejected"]
IN_CHUNK = 2000  # SQL Server accepts at most 2100 parameters per statement
HOME_CURRENCY = "PLN"
DEFAULT_COUNTRY = "Polska"
# Errors a database raises about one record's values (constraints, triggers, overflows);
# anything else (lost connection, locks, bugs) aborts the chunk and propagates.
RECORD_ERRORS = (IntegrityError, DataError, InternalError)


@dataclass(frozen=True)
class ImportResult:
    """What became of one inbound record."""

    status: Status
    erp_id: int | None = None
    erp_number: str | None = None
    error: str | None = None


def rejected(error: str) -> ImportResult:
    """Return a ``rejected`` result with a reason."""
    return ImportResult("rejected", error=error)


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


def transactional(engine: Engine) -> Engine:
    """Return ``engine``, or on pysqlite a copy that emits ``BEGIN IMMEDIATE`` itself.

    pysqlite's legacy transaction mode does not begin a transaction before ``SAVEPOINT``, so
    releasing the first savepoint would commit it (SQLAlchemy's SQLite docs, "Transactions with
    SQLite and the sqlite3 driver"). The listener lives on an option copy of the engine only;
    ``IMMEDIATE`` takes the write lock up front, which also keeps numbering race-free.
    """
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return engine
    copy = engine.execution_options()

    @event.listens_for(copy, "begin")
    def _begin(conn: Connection) -> None:
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return copy


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _error_text(exc: Exception) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"database refused the record: {str(exc.orig).splitlines()[0]}"
    return str(exc)


@dataclass
class _Customer:
    id: int
    code: str
    name: str
    street: str
    city: str
    postal_code: str


@dataclass
class _Line:
    row: dict[str, Any]
    net: Decimal
    gross: Decimal


@dataclass
class _Doc:
    guid: str
    external_id: str
    issued: datetime
    currency: str
    raw: list[dict[str, Any]]
    inline: dict[str, str] | None = None
    customer: _Customer | None = None
    lines: list[_Line] = field(default_factory=list)


@dataclass
class _Call:
    """Look-ups shared by the chunks of one import call; additions wait for their savepoint."""

    by_tax: dict[str, _Customer] | None = None
    codes_taken: set[str] = field(default_factory=set)
    pending: list[Callable[[], None]] = field(default_factory=list)
    seen: dict[str, ImportResult] = field(default_factory=dict)
    numbers: dict[tuple[int, str], int] = field(default_factory=dict)

    def keep(self) -> None:
        for apply in self.pending:
            apply()
        self.pending.clear()


class OptimaWriter:
    """Writes inbound orders, receipts, customers, products and prices into one Optima company."""

    def __init__(
        self,
        engine: Engine,
        tables: OptimaTables,
        operator: OperatorInfo,
        *,
        app_id: str = "OSYNC",
        namespace: str,
        warehouse: str | None = None,
        batch_size: int = 500,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.engine = transactional(engine)
        self.t = tables
        self.operator = operator
        self.app_id = app_id[:5]
        self.namespace = namespace
        self.warehouse = warehouse
        self.batch_size = batch_size
        self.clock = clock
        self._write_computed = engine.dialect.name != "mssql"

    # -- the shared loop ---------------------------------------------------------------------

    def _run(
        self,
        records: Sequence[Mapping[str, Any]],
        prepare: Callable[[Connection, Sequence[Mapping[str, Any]], _Call], list[Any]],
        write: Callable[[Connection, Any, _Call], ImportResult],
    ) -> list[ImportResult]:
        results: list[ImportResult] = []
        call = _Call()
        for chunk in _chunks(records, self.batch_size):
            with self.engine.begin() as conn:
                call.numbers.clear()  # re-read within each transaction (and lock, on mssql)
                for plan in prepare(conn, chunk, call):
                    if isinstance(plan, ImportResult):
                        results.append(plan)
                        continue
                    results.append(self._write_one(conn, plan, call, write))
        return results

    @staticmethod
    def _write_one(
        conn: Connection,
        plan: Any,
        call: _Call,
        write: Callable[[Connection, Any, _Call], ImportResult],
    ) -> ImportResult:
        call.pending.clear()
        try:
            with conn.begin_nested():
                result = write(conn, plan, call)
        except Rejected as exc:
            return rejected(str(exc))
        except RECORD_ERRORS as exc:
            if exc.connection_invalidated:
                raise
            return rejected(_error_text(exc))
        call.keep()
        return result

    def _parse_each(
        self, chunk: Sequence[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], Any]
    ) -> list[Any]:
        plans: list[Any] = []
        for record in chunk:
            try:
                if not isinstance(record, Mapping):
                    raise Rejected("record is not an object")
                plans.append(parse(record))
            except Rejected as exc:
                plans.append(rejected(str(exc)))
        return plans

    def _lookup(
        self, conn: Connection, column: Any, keys: Iterable[Any], *cols: Any
    ) -> dict[Any, Any]:
        """Return ``{key: row}`` for rows whose ``column`` is in ``keys``, one IN query a chunk."""
        found: dict[Any, Any] = {}
        unique = sorted(set(keys))
        for part in _chunks(unique, IN_CHUNK):
            for row in conn.execute(select(column, *cols).where(column.in_(list(part)))):
                found.setdefault(row[0], row)
        return found

    def _guid(self, record: Mapping[str, Any], entity: str, external_id: str) -> str:
        guid = v.text(record, "guid", max_len=36)
        if guid:
            return guid
        if not external_id:
            raise Rejected("missing external_id (or guid)")
        return import_guid(self.namespace, entity, external_id)

    def _operator_columns(self, prefix: str, *, name: bool = True) -> dict[str, Any]:
        cols: dict[str, Any] = {
            f"{prefix}_OpeZalID": self.operator.id,
            f"{prefix}_OpeZalKod": self.operator.code[:20],
        }
        if name:
            cols[f"{prefix}_OpeZalNazwisko"] = self.operator.name[:50]
        return cols

    # -- customers ---------------------------------------------------------------------------

    def import_customers(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Match or insert customers (``external_id, guid, name, tax_id, street, postal_code,
        city, country, email, phone``); a match is ``duplicate`` with the existing id and code."""
        return self._run(records, self._prepare_customers, self._write_customer)

    def _parse_customer(self, record: Mapping[str, Any]) -> dict[str, str]:
        external_id = v.text(record, "external_id", max_len=256)
        return {
            "guid": self._guid(record, "customers", external_id),
            "name": v.text(record, "name", required=True, max_len=350),
            "tax_id": v.text(record, "tax_id", max_len=20),
            "street": v.text(record, "street", max_len=62, truncate=True),
            "postal_code": v.text(record, "postal_code", max_len=10),
            "city": v.text(record, "city", max_len=40, truncate=True),
            "country": v.text(record, "country", max_len=40) or DEFAULT_COUNTRY,
            "email": v.text(record, "email", max_len=127),
            "phone": v.text(record, "phone", max_len=20, truncate=True),
        }

    def _prepare_customers(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: _Call
    ) -> list[Any]:
        plans = self._parse_each(chunk, self._parse_customer)
        k = self.t.Kontrahenci.c
        guids = [p["guid"] for p in plans if isinstance(p, dict)]
        known = self._lookup(conn, k.Knt_ImportRowId, guids, k.Knt_KntId, k.Knt_Kod)
        return [
            ImportResult("duplicate", known[p["guid"]][1], known[p["guid"]][2])
            if isinstance(p, dict) and p["guid"] in known
            else p
            for p in plans
        ]

    def _write_customer(
        self, conn: Connection, fields: dict[str, str], call: _Call
    ) -> ImportResult:
        if fields["guid"] in call.seen:
            first = call.seen[fields["guid"]]
            return ImportResult("duplicate", first.erp_id, first.erp_number)
        customer, inserted = self._resolve_customer(conn, fields, call)
        result = ImportResult("imported" if inserted else "duplicate", customer.id, customer.code)
        call.pending.append(lambda: call.seen.__setitem__(fields["guid"], result))
        return result

    def _customers_by_tax(self, conn: Connection, call: _Call) -> dict[str, _Customer]:
        if call.by_tax is None:
            k = self.t.Kontrahenci.c
            rows = conn.execute(
                select(
                    *self._customer_columns(),
                    k.Knt_Nip,
                )
                .where(k.Knt_Nip != "")
                .order_by(k.Knt_KntId)
            )
            call.by_tax = {}
            for row in rows:
                digits = v.tax_digits(row[9] or "")
                if digits:
                    call.by_tax.setdefault(digits, self._customer(row))
        return call.by_tax

    def _customer_columns(self) -> tuple[Any, ...]:
        """The Kontrahenci columns :meth:`_customer` reads, in its order."""
        k = self.t.Kontrahenci.c
        return (k.Knt_KntId, k.Knt_Kod, k.Knt_Nazwa1, k.Knt_Nazwa2, k.Knt_Ulica,
                k.Knt_NrDomu, k.Knt_NrLokalu, k.Knt_Miasto, k.Knt_KodPocztowy)

    @staticmethod
    def _customer(row: Sequence[Any]) -> _Customer:
        from optsync.optima.reader import join_name, join_street

        kid, kod, n1, n2, ulica, dom, lokal, miasto, kod_p = row[:9]
        return _Customer(
            kid, kod, join_name(n1, n2), join_street(ulica, dom, lokal), miasto or "", kod_p or ""
        )

    def _resolve_customer(
        self, conn: Connection, fields: dict[str, str], call: _Call
    ) -> tuple[_Customer, bool]:
        """Find the customer by GUID, then by tax id, else insert it; return it and whether new."""
        k = self.t.Kontrahenci.c
        row = conn.execute(
            select(*self._customer_columns()).where(k.Knt_ImportRowId == fields["guid"])
        ).first()
        if row is not None:
            return self._customer(row), False
        digits = v.tax_digits(fields["tax_id"])
        by_tax = self._customers_by_tax(conn, call) if digits else {}
        if digits in by_tax:
            return by_tax[digits], False
        return self._insert_customer(conn, fields, digits, call), True

    def _taken_codes(self, conn: Connection, base: str, call: _Call) -> set[str]:
        k = self.t.Kontrahenci.c
        prefix = base[:14]
        rows = conn.scalars(select(k.Knt_Kod).where(k.Knt_Kod.like(prefix + "%")))
        return {c.upper() for c in rows} | call.codes_taken

    def _insert_customer(
        self, conn: Connection, fields: dict[str, str], digits: str, call: _Call
    ) -> _Customer:
        base = v.code_base(fields["name"])
        code = v.unique_code(base, self._taken_codes(conn, base, call))
        n1, n2, n3 = v.split_name(fields["name"])
        street, house, flat = v.split_street(fields["street"])
        now = self.clock()
        tax = fields["tax_id"]
        values = {
            "Knt_Kod": code,
            "Knt_Nazwa1": n1,
            "Knt_Nazwa2": n2,
            "Knt_Nazwa3": n3,
            "Knt_Nip": tax,
            "Knt_NipKraj": tax[:2].upper() if tax[:2].isalpha() else "PL",
            "Knt_Ulica": street[:40],
            "Knt_NrDomu": house[:10],
            "Knt_NrLokalu": flat[:10],
            "Knt_KodPocztowy": fields["postal_code"],
            "Knt_Miasto": fields["city"],
            "Knt_Kraj": fields["country"],
            "Knt_Email": fields["email"],
            "Knt_Telefon1": fields["phone"],
            "Knt_Nieaktywny": 0,
            "Knt_Export": 0,
            "Knt_ImportRowId": fields["guid"],
            "Knt_ImportAppId": self.app_id,
            "Knt_TS_Zal": now,
            "Knt_TS_Mod": now,
            **self._operator_columns("Knt", name=False),
        }
        kid = new_id(conn.execute(insert(self.t.Kontrahenci), values))
        from optsync.optima.reader import join_name, join_street

        customer = _Customer(
            kid,
            code,
            join_name(n1, n2),
            join_street(street, house, flat),
            fields["city"],
            fields["postal_code"],
        )

        def remember() -> None:
            call.codes_taken.add(code.upper())
            if digits and call.by_tax is not None:
                call.by_tax.setdefault(digits, customer)

        call.pending.append(remember)
        return customer

    # -- documents ---------------------------------------------------------------------------

    def import_orders(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Import customer orders as draft ``TraNag`` class 308 (RO) documents with their lines."""
        return self._documents(records, ORDERS)

    def import_receipts(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Import receipts as draft ``TraNag`` class 305 (PA) documents with their lines."""
        return self._documents(records, RECEIPTS)

    def _documents(self, records: Sequence[Mapping[str, Any]], kind: DocKind) -> list[ImportResult]:
        with self.engine.connect() as conn:
            ddf_id, symbol = self._definition(conn, kind)
            mag_id = self._warehouse_id(conn)
            nobody = self._nieokreslony(conn) if not kind.needs_customer else None

        def prepare(conn: Connection, chunk: Sequence[Mapping[str, Any]], call: _Call) -> list[Any]:
            return self._prepare_documents(conn, chunk, kind, mag_id, nobody)

        def write(conn: Connection, doc: _Doc, call: _Call) -> ImportResult:
            return self._write_document(conn, doc, call, kind, ddf_id, symbol, mag_id)

        return self._run(records, prepare, write)

    def _definition(self, conn: Connection, kind: DocKind) -> tuple[int | None, str]:
        d = self.t.DokDefinicje.c
        row = conn.execute(
            select(d.DDf_DDfID, d.DDf_Symbol)
            .where(d.DDf_Klasa == kind.klasa, d.DDf_Nieaktywna == 0)
            .order_by(d.DDf_DDfID)
        ).first()
        return (row[0], row[1].strip() or kind.symbol) if row else (None, kind.symbol)

    def _warehouse_id(self, conn: Connection) -> int | None:
        m = self.t.Magazyny.c
        stmt = select(m.Mag_MagId).order_by(m.Mag_MagId)
        if self.warehouse:
            mag_id = conn.scalar(stmt.where(m.Mag_Symbol == self.warehouse))
            if mag_id is None:
                raise ConfigError(
                    f"warehouse {self.warehouse!r} does not exist in Optima",
                    "Use a Mag_Symbol from the Optima warehouse list",
                )
            return int(mag_id)
        return conn.scalar(stmt.where(m.Mag_NieAktywny == 0).limit(1))

    def _nieokreslony(self, conn: Connection) -> _Customer | None:
        k = self.t.Kontrahenci.c
        row = conn.execute(
            select(
                *self._customer_columns(),
            ).where(k.Knt_Kod == "!NIEOKREŚLONY!")
        ).first()
        return self._customer(row) if row else None

    def _parse_document(self, record: Mapping[str, Any], kind: DocKind) -> _Doc:
        external_id = v.text(record, "external_id", max_len=256)
        if not external_id:
            raise Rejected("missing external_id")
        lines = record.get("lines") or []
        if not isinstance(lines, list) or not lines:
            raise Rejected("document has no lines")
        if not all(isinstance(line, Mapping) for line in lines):
            raise Rejected("every line must be an object")
        parsed = []
        for n, line in enumerate(sorted(lines, key=v.line_no), 1):
            where = f"line {line.get('line_no') or n}"
            try:
                code = v.text(line, "product_code", required=True, max_len=50)
                quantity = v.decimal(line, "quantity")
                if quantity <= 0:
                    raise Rejected(f"quantity must be positive, got {quantity}")
                price = v.decimal(line, "unit_price")
                if price < 0:
                    raise Rejected(f"unit_price must not be negative, got {price}")
                price_kind = v.text(line, "price_kind").lower() or "net"
                if price_kind not in ("net", "gross"):
                    raise Rejected(f"price_kind must be net or gross, got {price_kind!r}")
                rate = line.get("vat_rate")
                vat = None if rate is None or rate == "" else v.decimal(line, "vat_rate")
            except Rejected as exc:
                raise Rejected(f"{where}: {exc}") from None
            parsed.append(
                {"code": code, "quantity": quantity, "price": price, "kind": price_kind, "vat": vat}
            )
        inline = None
        if not v.text(record, "customer_code"):
            inline = {
                "name": v.text(record, "customer_name", max_len=350),
                "tax_id": v.text(record, "customer_tax_id", max_len=20),
                "email": v.text(record, "customer_email", max_len=127),
                "street": v.text(record, "customer_street", max_len=62, truncate=True),
                "postal_code": v.text(record, "customer_postal_code", max_len=10),
                "city": v.text(record, "customer_city", max_len=40, truncate=True),
                "country": DEFAULT_COUNTRY,
                "phone": "",
            }
            if not inline["name"]:
                if kind.needs_customer:
                    raise Rejected("missing customer_code or customer_name")
                inline = None
            else:
                key = v.tax_digits(inline["tax_id"]) or inline["email"].lower() or inline["name"]
                inline["guid"] = import_guid(self.namespace, "customers", f"inline:{key}")
        return _Doc(
            guid=self._guid(record, kind.entity, external_id),
            external_id=external_id,
            issued=v.when(record, "issued_at", default=self.clock()),
            currency=(v.text(record, "currency", max_len=3) or HOME_CURRENCY).upper(),
            raw=parsed,
            inline=inline,
        )

    def _prepare_documents(
        self,
        conn: Connection,
        chunk: Sequence[Mapping[str, Any]],
        kind: DocKind,
        mag_id: int | None,
        nobody: _Customer | None,
    ) -> list[Any]:
        n, w, k = self.t.TraNag.c, self.t.Towary.c, self.t.Kontrahenci.c
        guids = [self._guid_or_none(r, kind.entity) for r in chunk]
        # An imported document is reported as such even if its record no longer validates.
        existing = self._lookup(
            conn,
            n.TrN_ImportRowId,
            [g for g in guids if g],
            n.TrN_TrNID,
            n.TrN_NumerString,
            n.TrN_NumerNr,
        )
        plans = [
            self._duplicate(existing[g]) if g in existing else p
            for g, p in zip(guids, self._parse_each(chunk, lambda r: self._parse_document(r, kind)))
        ]
        docs = [p for p in plans if isinstance(p, _Doc)]
        products = self._lookup(
            conn,
            w.Twr_Kod,
            [ln["code"] for d in docs for ln in d.raw],
            w.Twr_TwrId,
            w.Twr_Nazwa,
            w.Twr_JM,
            w.Twr_Stawka,
        )
        codes = [
            str(r["customer_code"]).strip()
            for r, p in zip(chunk, plans)
            if isinstance(p, _Doc) and r.get("customer_code")
        ]
        customers = self._lookup(
            conn,
            k.Knt_Kod,
            codes,
            *self._customer_columns(),
        )
        out: list[Any] = []
        for record, plan in zip(chunk, plans):
            if not isinstance(plan, _Doc):
                out.append(plan)
            else:
                try:
                    out.append(self._shape(plan, record, kind, products, customers, mag_id, nobody))
                except Rejected as exc:
                    out.append(rejected(str(exc)))
        return out

    def _guid_or_none(self, record: Mapping[str, Any], entity: str) -> str | None:
        if not isinstance(record, Mapping):
            return None
        try:
            return self._guid(record, entity, v.text(record, "external_id", max_len=256))
        except Rejected:
            return None

    @staticmethod
    def _duplicate(row: Sequence[Any]) -> ImportResult:
        _, trn_id, numer_string, numer_nr = row
        return ImportResult("duplicate", trn_id, full_number(numer_string, numer_nr))

    def _shape(
        self,
        doc: _Doc,
        record: Mapping[str, Any],
        kind: DocKind,
        products: dict[str, Any],
        customers: dict[str, Any],
        mag_id: int | None,
        nobody: _Customer | None,
    ) -> _Doc:
        unknown = sorted({ln["code"] for ln in doc.raw if ln["code"] not in products})
        if unknown:
            raise Rejected(
                f"unknown product code{'s' if len(unknown) > 1 else ''}: " + ", ".join(unknown)
            )
        code = str(record.get("customer_code") or "").strip()
        if code:
            if code not in customers:
                raise Rejected(f"unknown customer code: {code}")
            doc.customer = self._customer(customers[code][1:])
        elif doc.inline is None:
            doc.customer = nobody
        day = doc.issued.replace(hour=0, minute=0, second=0, microsecond=0)
        for lp, raw in enumerate(doc.raw, 1):
            _, twr_id, nazwa, jm, stawka = products[raw["code"]]
            rate = raw["vat"] if raw["vat"] is not None else Decimal(stawka)
            net, gross = line_amounts(raw["quantity"], raw["price"], rate, raw["kind"])
            unit_net = (
                raw["price"]
                if raw["kind"] == "net"
                else (raw["price"] / (1 + rate / 100)).quantize(v.PLACES4)
            )
            doc.lines.append(
                _Line(
                    {
                        "TrE_Lp": lp,
                        "TrE_TwrId": twr_id,
                        "TrE_TwrKod": raw["code"],
                        "TrE_TwrNazwa": nazwa,
                        "TrE_Jm": jm,
                        "TrE_Ilosc": raw["quantity"],
                        "TrE_Cena0": unit_net,
                        "TrE_CenaT": unit_net,
                        "TrE_CenaW": unit_net,
                        "TrE_Rabat": Decimal(0),
                        "TrE_Stawka": rate,
                        "TrE_WartoscNetto": net,
                        "TrE_WartoscBrutto": gross,
                        "TrE_TypDokumentu": kind.klasa,
                        "TrE_DataDok": day,
                        "TrE_MagId": mag_id,
                        "TrE_Aktywny": 1,
                    },
                    net,
                    gross,
                )
            )
        doc.issued = day
        return doc

    def _next_number(self, conn: Connection, call: _Call, klasa: int, numer_string: str) -> int:
        key = (klasa, numer_string)
        if key not in call.numbers:
            n = self.t.TraNag.c
            stmt = (
                select(func.max(n.TrN_NumerNr))
                .where(n.TrN_TypDokumentu == klasa, n.TrN_NumerString == numer_string)
                .with_hint(self.t.TraNag, "WITH (UPDLOCK, HOLDLOCK)", "mssql")
            )
            call.numbers[key] = int(conn.scalar(stmt) or 0)
        return call.numbers[key] + 1

    def _write_document(
        self,
        conn: Connection,
        doc: _Doc,
        call: _Call,
        kind: DocKind,
        ddf_id: int | None,
        symbol: str,
        mag_id: int | None,
    ) -> ImportResult:
        if doc.guid in call.seen:
            first = call.seen[doc.guid]
            return ImportResult("duplicate", first.erp_id, first.erp_number)
        customer = doc.customer
        if doc.inline is not None:
            customer, _ = self._resolve_customer(conn, doc.inline, call)
        numer_string = f"{symbol}/@numerS/{doc.issued.year}"
        number = self._next_number(conn, call, kind.klasa, numer_string)
        full = full_number(numer_string, number)
        net = sum((ln.net for ln in doc.lines), Decimal("0.00"))
        gross = sum((ln.gross for ln in doc.lines), Decimal("0.00"))
        now = self.clock()
        header: dict[str, Any] = {
            "TrN_TypDokumentu": kind.klasa,
            "TrN_Rodzaj": kind.rodzaj,
            "TrN_Bufor": 1,
            "TrN_Anulowany": 0,
            "TrN_Detal": kind.detal,
            "TrN_Export": 0,
            "TrN_Korekta": 0,
            "TrN_DDfId": ddf_id,
            "TrN_NumerNr": number,
            "TrN_NumerString": numer_string,
            "TrN_NumerObcy": doc.external_id,
            "TrN_ImportRowId": doc.guid,
            "TrN_ImportAppId": self.app_id,
            "TrN_DataDok": doc.issued,
            "TrN_DataWys": doc.issued,
            "TrN_DataOpe": doc.issued,
            "TrN_Termin": doc.issued,
            "TrN_Waluta": doc.currency,
            "TrN_MagZrdId": mag_id,
            "TrN_RazemNetto": net,
            "TrN_RazemBrutto": gross,
            "TrN_RazemVAT": gross - net,
            "TrN_TS_Zal": now,
            "TrN_TS_Mod": now,
            **self._party(customer),
            **self._operator_columns("TrN"),
        }
        if self._write_computed:
            header["TrN_NumerPelny"] = full[:30]
        trn_id = new_id(conn.execute(insert(self.t.TraNag), header))
        conn.execute(insert(self.t.TraElem), [{**ln.row, "TrE_TrNId": trn_id} for ln in doc.lines])
        result = ImportResult("imported", trn_id, full)

        def remember() -> None:
            call.numbers[(kind.klasa, numer_string)] = number
            call.seen[doc.guid] = result

        call.pending.append(remember)
        return result

    @staticmethod
    def _party(customer: _Customer | None) -> dict[str, Any]:
        if customer is None:
            return {
                "TrN_PodID": None,
                "TrN_PodmiotTyp": None,
                "TrN_PodNazwa1": "",
                "TrN_PodNazwa2": "",
                "TrN_PodUlica": "",
                "TrN_PodMiasto": "",
                "TrN_PodKodPocztowy": "",
            }
        n1, n2, _ = v.split_name(customer.name, (50, 50, 10_000))
        return {
            "TrN_PodID": customer.id,
            "TrN_PodmiotTyp": 1,
            "TrN_PodNazwa1": n1,
            "TrN_PodNazwa2": n2,
            "TrN_PodUlica": customer.street[:40],
            "TrN_PodMiasto": customer.city[:40],
            "TrN_PodKodPocztowy": customer.postal_code[:10],
        }

    # -- products and prices (xl) ------------------------------------------------------------

    def import_products(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Insert or update ``Towary`` by ``Twr_Kod`` from records with the outbound product
        fields (``code, name, description, ean, unit, vat_rate, active``; ``deleted: 1``
        deactivates)."""
        return self._run(records, self._prepare_products, self._write_product)

    def _parse_product(self, record: Mapping[str, Any]) -> dict[str, Any]:
        active = record.get("active", 1)
        inactive = str(active).strip().lower() in ("0", "false", "no") or bool(
            record.get("deleted") and str(record.get("deleted")).strip() not in ("0", "false")
        )
        rate = v.decimal(record, "vat_rate", default=Decimal(23))
        if not Decimal(0) <= rate < Decimal(1000):
            raise Rejected(f"vat_rate out of range: {rate}")
        return {
            "Twr_Kod": v.text(record, "code", required=True, max_len=50),
            "Twr_Nazwa": v.text(record, "name", required=True, max_len=255),
            "Twr_Opis": v.text(record, "description"),
            "Twr_EAN": v.text(record, "ean", max_len=40),
            "Twr_JM": v.text(record, "unit", max_len=20) or "szt",
            "Twr_Stawka": rate,
            "Twr_NieAktywny": 1 if inactive else 0,
        }

    def _prepare_products(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: _Call
    ) -> list[Any]:
        plans = self._parse_each(chunk, self._parse_product)
        w = self.t.Towary.c
        known = self._lookup(
            conn, w.Twr_Kod, [p["Twr_Kod"] for p in plans if isinstance(p, dict)], w.Twr_TwrId
        )
        for code, row in known.items():
            call.seen.setdefault(f"twr:{code}", ImportResult("imported", row[1], code))
        return plans

    def _write_product(self, conn: Connection, values: dict[str, Any], call: _Call) -> ImportResult:
        code, now = values["Twr_Kod"], self.clock()
        key, w = f"twr:{code}", self.t.Towary
        if key in call.seen:
            twr_id = call.seen[key].erp_id
            conn.execute(
                update(w)
                .where(w.c.Twr_TwrId == twr_id)
                .values(**values, Twr_TS_Mod=now, Twr_OpeModID=self.operator.id)
            )
            return ImportResult("imported", twr_id, code)
        twr_id = new_id(
            conn.execute(
                insert(w).values(
                    **values,
                    Twr_Typ=1,
                    Twr_Waluta=HOME_CURRENCY,
                    Twr_TwCNumer=1,
                    Twr_TS_Zal=now,
                    Twr_TS_Mod=now,
                    Twr_OpeZalID=self.operator.id,
                    Twr_OpeModID=self.operator.id,
                )
            )
        )
        result = ImportResult("imported", twr_id, code)
        call.pending.append(lambda: call.seen.__setitem__(key, result))
        return result

    def import_prices(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Insert or update ``TwrCeny`` by (product, price number) from records with
        ``product_code, price_list, value, currency``; unknown products or price lists are
        rejected."""
        return self._run(records, self._prepare_prices, self._write_price)

    def _parse_price(self, record: Mapping[str, Any]) -> dict[str, Any]:
        value = v.decimal(record, "value")
        if value < 0:
            raise Rejected(f"value must not be negative, got {value}")
        raw = v.text(record, "price_list", required=True)
        if not raw.isdigit():
            raise Rejected(f"price_list must be an Optima price number, got {raw!r}")
        return {
            "code": v.text(record, "product_code", required=True, max_len=50),
            "lp": int(raw),
            "value": value,
            "currency": (v.text(record, "currency", max_len=3) or HOME_CURRENCY).upper(),
        }

    def _prepare_prices(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: _Call
    ) -> list[Any]:
        plans = self._parse_each(chunk, self._parse_price)
        w, c, d = self.t.Towary.c, self.t.TwrCeny.c, self.t.DefCeny.c
        wanted = [p for p in plans if isinstance(p, dict)]
        products = self._lookup(conn, w.Twr_Kod, [p["code"] for p in wanted], w.Twr_TwrId)
        lists = set(conn.scalars(select(d.DfC_Lp)))
        ids = [products[p["code"]][1] for p in wanted if p["code"] in products]
        for part in _chunks(sorted(set(ids)), IN_CHUNK):
            stmt = select(c.TwC_TwrID, c.TwC_TwCNumer, c.TwC_TwCID).where(
                c.TwC_TwrID.in_(list(part))
            )
            for twr_id, lp, twc_id in conn.execute(stmt):
                call.seen.setdefault(f"twc:{twr_id}:{lp}", ImportResult("imported", twc_id))
        out: list[Any] = []
        for p in plans:
            if not isinstance(p, dict):
                out.append(p)
            elif p["code"] not in products:
                out.append(rejected(f"unknown product code: {p['code']}"))
            elif p["lp"] not in lists:
                out.append(rejected(f"unknown price list: {p['lp']}"))
            else:
                out.append({**p, "twr_id": products[p["code"]][1]})
        return out

    def _write_price(self, conn: Connection, p: dict[str, Any], call: _Call) -> ImportResult:
        key, c = f"twc:{p['twr_id']}:{p['lp']}", self.t.TwrCeny
        values = {"TwC_Wartosc": p["value"], "TwC_Waluta": p["currency"]}
        if key in call.seen:
            twc_id = call.seen[key].erp_id
            conn.execute(update(c).where(c.c.TwC_TwCID == twc_id).values(**values))
            return ImportResult("imported", twc_id, f"{p['code']}/{p['lp']}")
        twc_id = new_id(
            conn.execute(
                insert(c).values(
                    TwC_TwrID=p["twr_id"],
                    TwC_TwCNumer=p["lp"],
                    TwC_Typ=1,
                    **values,
                )
            )
        )
        result = ImportResult("imported", twc_id, f"{p['code']}/{p['lp']}")
        call.pending.append(lambda: call.seen.__setitem__(key, result))
        return result
