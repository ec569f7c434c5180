"""Customers (``Kontrahenci``): matched by import GUID, then by tax id, else inserted.

A match is reported as ``duplicate`` and left unchanged (Optima stays the master of customer
data); a new customer gets a code made from its name (``HURTOWNIA KOWALSKI``, unique with a
``-2`` suffix) and the values Optima gives a customer entered by hand: a recipient
(``Knt_Rodzaj_Odbiorca``), a VAT payer with a tax id or a final consumer without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from optsync.entities import ENTITIES
from optsync.optima import inbound as v
from optsync.optima.inbound import Rejected, import_guid
from optsync.optima.reader import join_name
from optsync.optima.writer.batch import Call, ImportResult, Target, parse_each

DEFAULT_COUNTRY = "Polska"
CUSTOMER = ENTITIES["customers"].inbound_field
# A document's inline customer: the customer_* fields of an order or receipt.
INLINE = ENTITIES["orders"].inbound_field
# The customer columns a document copies for its buyer and recipient (TrN_Pod*, TrN_Odb*).
PARTY = (
    "Nazwa1", "Nazwa2", "Nazwa3", "Ulica", "NrDomu", "NrLokalu", "Miasto", "KodPocztowy",
    "Kraj", "Poczta", "Gmina", "Powiat", "Wojewodztwo", "Adres2", "NipKraj",
)
# Further card values a document takes from its customer.
CARD = ("Nip", "GLN", "PodatekVat", "Finalny")


@dataclass
class Customer:
    """A customer of Optima as a document needs it."""

    id: int
    code: str
    card: dict[str, Any]  # Knt_<name> -> value, for the names in PARTY and CARD

    @property
    def name(self) -> str:
        return join_name(*(self.card.get(f"Knt_Nazwa{n}") for n in (1, 2, 3)))


@dataclass
class NewCustomer:
    """A validated inbound customer (also a document's inline customer)."""

    guid: str
    name: str
    tax_id: str = ""
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = DEFAULT_COUNTRY
    email: str = ""
    phone: str = ""


@dataclass
class Customers:
    """The customer side of one writer: look-ups cached per import call."""

    target: Target
    by_tax: dict[str, Customer] | None = None
    codes_taken: set[str] = field(default_factory=set)
    known: dict[str, Customer] = field(default_factory=dict)  # by import GUID
    absent: set[str] = field(default_factory=set)  # GUIDs the current chunk's look-up missed
    free_codes: set[str] = field(default_factory=set)  # codes the current chunk found free

    # -- reading -----------------------------------------------------------------------------

    def columns(self, conn: Connection) -> list[Any]:
        """The ``Kontrahenci`` columns a :class:`Customer` holds, as far as this table has them."""
        k = self.target.t.Kontrahenci.c
        shape = self.target.shape(conn, "Kontrahenci")
        names = ["Knt_KntId", "Knt_Kod"] + [f"Knt_{n}" for n in PARTY + CARD]
        return [k[n] for n in names if n in ("Knt_KntId", "Knt_Kod") or shape.has(n)]

    @staticmethod
    def from_row(row: Mapping[str, Any]) -> Customer:
        card = {key: value for key, value in row.items() if key not in ("Knt_KntId", "Knt_Kod")}
        return Customer(row["Knt_KntId"], row["Knt_Kod"], card)

    def find(self, conn: Connection, column: str, value: Any) -> Customer | None:
        k = self.target.t.Kontrahenci.c
        row = conn.execute(select(*self.columns(conn)).where(k[column] == value)).mappings().first()
        return self.from_row(row) if row else None

    def by_codes(self, conn: Connection, codes: Sequence[str]) -> dict[str, Customer]:
        k = self.target.t.Kontrahenci.c
        cols = self.columns(conn)
        rows = self.target.lookup(conn, k.Knt_Kod, codes, *cols)
        return {code: self.from_row(row._mapping) for code, row in rows.items()}

    def prefetch(self, conn: Connection, new: Sequence[NewCustomer]) -> None:
        """Look the customers of a chunk up by import GUID, and the codes they would get, in
        one query each (see :meth:`resolve` and :meth:`_free_code`)."""
        k = self.target.t.Kontrahenci.c
        guids = [c.guid for c in new]
        rows = self.target.lookup(conn, k.Knt_ImportRowId, guids, *self.columns(conn))
        for guid, row in rows.items():
            self.known[guid] = self.from_row(row._mapping)
        self.absent = set(guids) - set(rows)
        bases = {v.code_base(c.name) for c in new if c.guid in self.absent}
        self.free_codes = bases - set(self.target.lookup(conn, k.Knt_Kod, bases))

    def _by_tax(self, conn: Connection) -> dict[str, Customer]:
        if self.by_tax is None:
            k = self.target.t.Kontrahenci.c
            rows = conn.execute(
                select(*self.columns(conn)).where(k.Knt_Nip != "").order_by(k.Knt_KntId)
            ).mappings()
            self.by_tax = {}
            for row in rows:
                digits = v.tax_digits(row["Knt_Nip"] or "")
                if digits:
                    self.by_tax.setdefault(digits, self.from_row(row))
        return self.by_tax

    # -- the import of customers -------------------------------------------------------------

    def import_records(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Import customers; of the rows of one customer (one GUID) in a batch, the latest is
        the one considered and the earlier ones share its result."""
        keys = [self._key(record) for record in records]
        latest = {key: i for i, key in enumerate(keys) if key is not None}
        kept = [i for i, key in enumerate(keys) if key is None or latest[key] == i]
        results = dict(zip(kept, self.target.run([records[i] for i in kept], self._prepare, self._write)))
        out: list[ImportResult] = []
        for i, key in enumerate(keys):
            if i in results:
                out.append(results[i])
                continue
            last = results[latest[key]]  # type: ignore[index]
            out.append(last if last.status == "rejected"
                       else ImportResult("duplicate", last.erp_id, last.erp_number))
        return out

    def _key(self, record: Any) -> str | None:
        try:
            return self.target.guid(record, "customers", v.field_text(record, CUSTOMER("external_id")))
        except (Rejected, AttributeError, TypeError, ValueError):
            return None

    def parse(self, record: Mapping[str, Any]) -> NewCustomer:
        external_id = v.field_text(record, CUSTOMER("external_id"))
        text = lambda name: v.field_text(record, CUSTOMER(name))  # noqa: E731
        return NewCustomer(
            guid=self.target.guid(record, "customers", external_id),
            name=text("name"),
            tax_id=text("tax_id"),
            street=text("street"),
            postal_code=text("postal_code"),
            city=text("city"),
            country=text("country") or DEFAULT_COUNTRY,
            email=text("email"),
            phone=text("phone"),
        )

    def _prepare(
        self, conn: Connection, chunk: Sequence[Mapping[str, Any]], call: Call
    ) -> list[NewCustomer | ImportResult]:
        plans = parse_each(chunk, self.parse)
        k = self.target.t.Kontrahenci.c
        guids = [p.guid for p in plans if isinstance(p, NewCustomer)]
        known = self.target.lookup(conn, k.Knt_ImportRowId, guids, k.Knt_KntId, k.Knt_Kod)
        return [
            ImportResult("duplicate", known[p.guid][1], known[p.guid][2])
            if isinstance(p, NewCustomer) and p.guid in known
            else p
            for p in plans
        ]

    def _write(self, conn: Connection, new: NewCustomer, call: Call) -> ImportResult:
        if new.guid in call.seen:
            first = call.seen[new.guid]
            return ImportResult("duplicate", first.erp_id, first.erp_number)
        customer, inserted = self.resolve(conn, new, call)
        result = ImportResult("imported" if inserted else "duplicate", customer.id, customer.code)
        call.later(lambda: call.seen.__setitem__(new.guid, result))
        return result

    def resolve(self, conn: Connection, new: NewCustomer, call: Call) -> tuple[Customer, bool]:
        """Find the customer by GUID, then by tax id, else insert it; return it and whether new."""
        found = self.known.get(new.guid)
        if found is None and new.guid not in self.absent:
            found = self.find(conn, "Knt_ImportRowId", new.guid)
        if found is not None:
            return found, False
        digits = v.tax_digits(new.tax_id)
        by_tax = self._by_tax(conn) if digits else {}
        if digits in by_tax:
            return by_tax[digits], False
        return self._insert(conn, new, digits, call), True

    def _free_code(self, conn: Connection, base: str) -> str:
        """``base``, or the first free ``base-2``, ``base-3``…: the code itself is looked up on
        its unique index first, and the codes like it only when it is taken."""
        k = self.target.t.Kontrahenci.c
        if base.upper() not in self.codes_taken and (base in self.free_codes or conn.scalar(
            select(k.Knt_KntId).where(k.Knt_Kod == base)
        ) is None):
            return base
        rows = conn.scalars(select(k.Knt_Kod).where(k.Knt_Kod.like(base[:14] + "%")))
        return v.unique_code(base, {c.upper() for c in rows} | self.codes_taken)

    def _insert(self, conn: Connection, new: NewCustomer, digits: str, call: Call) -> Customer:
        base = v.code_base(new.name)
        code = self._free_code(conn, base)
        n1, n2, n3 = v.split_name(new.name)
        street, house, flat = v.split_street(new.street)
        tax = new.tax_id
        nip_kraj = tax[:2].upper() if tax[:2].isalpha() else ("PL" if tax else "")
        values = {
            "Knt_Kod": code,
            "Knt_Nazwa1": n1,
            "Knt_Nazwa2": n2,
            "Knt_Nazwa3": n3,
            "Knt_Nip": tax,
            "Knt_NipKraj": nip_kraj,
            "Knt_Ulica": street[:40],
            "Knt_NrDomu": house[:10],
            "Knt_NrLokalu": flat[:10],
            "Knt_KodPocztowy": new.postal_code,
            "Knt_Miasto": new.city,
            "Knt_Kraj": new.country,
            "Knt_KrajISO": "PL" if new.country == DEFAULT_COUNTRY else "",
            "Knt_Email": new.email,
            "Knt_Telefon1": new.phone,
            "Knt_Nieaktywny": 0,
            "Knt_Export": 0,
            "Knt_Rodzaj_Odbiorca": 1,
            "Knt_PodatekVat": 1 if digits else 0,
            "Knt_Finalny": 0 if digits else 1,
            "Knt_PodmiotTyp": 1,
            "Knt_ImportRowId": new.guid,
            "Knt_ImportAppId": self.target.app_id,
            "Knt_TS_Zal": call.now,
            "Knt_TS_Mod": call.now,
            **self.target.operator_columns("Knt"),
        }
        kid = self.target.insert(conn, "Kontrahenci", values, call.now)
        card = {k: values.get(k, "") for k in (f"Knt_{n}" for n in PARTY + CARD)}
        customer = Customer(kid, code, card)

        def remember() -> None:
            self.codes_taken.add(code.upper())
            self.known[new.guid] = customer
            if digits and self.by_tax is not None:
                self.by_tax.setdefault(digits, customer)

        call.later(remember)
        return customer


def inline_customer(record: Mapping[str, Any], namespace: str) -> NewCustomer | None:
    """A document's inline customer (``customer_name``, ``customer_tax_id``…), if it has one."""
    text = lambda name: v.field_text(record, INLINE(name))  # noqa: E731
    name = text("customer_name")
    if not name:
        return None
    new = NewCustomer(
        guid="",
        name=name,
        tax_id=text("customer_tax_id"),
        email=text("customer_email"),
        street=text("customer_street"),
        postal_code=text("customer_postal_code"),
        city=text("customer_city"),
    )
    key = v.tax_digits(new.tax_id) or new.email.lower() or new.name
    new.guid = import_guid(namespace, "customers", f"inline:{key}")
    return new
