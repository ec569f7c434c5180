"""Every entity optsync exchanges, declared once: its key, fields, rules, reader and tables.

An :class:`Entity` says what the integrated application sees (the outbound fields Optima's
data is sent as, the inbound fields an application sends, their exchange table columns and
JSON keys), where its data lives (the exchange tables of a ``sql`` endpoint, the ``out/`` and
``in/`` folders of a ``folder`` endpoint) and how optsync reads it from Optima (the names of
its reading functions in :mod:`optsync.optima.reader`; names, not the functions, so that this
module stays below the Optima adapter and every layer may read it).

Who checks what on an inbound record, so that each field has one rule:

- **The endpoint reads** (:func:`optsync.endpoints.records.inbound_record`): it turns raw
  values into Python values of the field's kind (text, :class:`~decimal.Decimal` read by
  :func:`optsync.decimals.read_decimal`, a 32-bit int, 0/1, datetime) and rejects only what
  cannot be read as that kind (text where a number belongs, an object where text belongs, a
  broken date, a document without a list of lines). It numbers lines from their order when
  they say nothing.
- **The writer validates** (:mod:`optsync.optima.writer`, with the helpers of
  :mod:`optsync.optima.inbound`): every rule declared on an inbound :class:`Field` here:
  ``required``, ``limit`` (the length of the Optima column the value goes to: longer is
  rejected, or cut where ``cut``), ``column`` (the Optima decimal column whose precision and
  scale the number must fit), ``choices``, ``sign``, and VAT rates (``kind="vat"``). Then the
  rules that need Optima itself (an unknown product, customer or price list).

The exchange column of an inbound field (``kind``, ``size``, ``scale``, NOT NULL) is the
contract with the application and may be wider than the Optima column: the writer's rule is
the one that decides.
"""

from __future__ import annotations

from typing import Any

# Plain classes rather than dataclasses: this module is read on cron's start-up path, where a
# dataclass (or a named tuple) costs a millisecond to define and these cost nothing.

# What a line's vat_rate may say instead of a rate: exempt ("zw") or not subject to VAT ("np").
VAT_WORDS = ("zw", "np")


class Field:
    """One field of a record: its exchange column (name, kind, size) and its inbound rules."""

    __slots__ = ("name", "kind", "size", "scale", "required", "not_null", "limit", "cut",
                 "column", "sign", "choices")

    def __init__(
        self,
        name: str,
        kind: str,  # "str" | "text" | "int" | "bool" | "decimal" | "datetime" | "vat"
        size: int | None = None,  # characters for "str"; precision for "decimal" and "vat"
        scale: int | None = None,  # decimal places for "decimal" and "vat"
        required: bool = False,  # a record without a value is rejected
        not_null: bool | None = None,  # the exchange column is NOT NULL (default: required)
        *,
        # Inbound rules, checked by the writer before anything reaches Optima:
        limit: int | None = None,  # the length of the Optima column(s) the text goes to
        cut: bool = False,  # a longer text is cut to ``limit`` (address parts), not rejected
        column: str | None = None,  # "Table.Column": the Optima decimal column it must fit
        sign: str | None = None,  # "positive" | "not negative"
        choices: tuple[str, ...] = (),  # the allowed words (compared in lower case)
    ) -> None:
        self.name, self.kind, self.size, self.scale = name, kind, size, scale
        self.required, self.not_null = required, not_null
        self.limit, self.cut, self.column, self.sign, self.choices = (
            limit, cut, column, sign, choices)

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.kind!r})"

    @property
    def nullable(self) -> bool:
        """Whether the exchange column takes NULL."""
        return not (self.required if self.not_null is None else self.not_null)


def _s(name: str, size: int, required: bool = False, **rules: Any) -> Field:
    return Field(name, "str", size, required=required, **rules)


def _d(name: str, precision: int = 19, scale: int = 4, required: bool = False,
       **rules: Any) -> Field:
    return Field(name, "decimal", precision, scale, required=required, **rules)


class Entity:
    """One entity: what is exchanged, how it is keyed, read from Optima, and where it lives."""

    def __init__(
        self,
        name: str,
        *,
        # Outbound (Optima to the application):
        key: tuple[str, ...] = (),  # the outbound key fields, in order
        outbound: tuple[Field, ...] = (),
        outbound_lines: tuple[Field, ...] = (),  # documents: their lines' fields
        outbound_lines_key: tuple[str, ...] = (),
        reader: str | None = None,  # optsync.optima.reader.<reader>: reads outbound records
        query: str | None = None,  # optsync.optima.reader.<query>: the raw rows export hashes
        record: str | None = None,  # optsync.optima.reader.<record>: a query row as a record
        watermarked: bool = False,  # read since the settled watermark, else read whole
        setting: str | None = None,  # "price_list" | "warehouse": the filter it takes
        deletes_counted: bool = False,  # deletions found by counting Optima's keys
        optima_key: tuple[str, str] | None = None,  # (table, column) of the key in Optima
        outbound_table: str | None = None,
        outbound_lines_table: str | None = None,
        out_folder: str | None = None,
        # Inbound (the application to Optima):
        inbound: tuple[Field, ...] = (),
        inbound_lines: tuple[Field, ...] = (),  # orders and receipts: their lines' fields
        label: tuple[str, ...] = (),  # the fields that name a record in logs and rejections
        writer: str | None = None,  # OptimaWriter.<writer>: writes a batch of records
        import_rank: int = 0,  # imports run in this order (customers before the documents)
        inbox_table: str | None = None,
        inbox_lines_table: str | None = None,
        in_folder: str | None = None,
    ) -> None:
        self.name = name
        self.key, self.outbound, self.outbound_lines = key, outbound, outbound_lines
        self.outbound_lines_key = outbound_lines_key
        self.reader, self.query, self.record = reader, query, record
        self.watermarked, self.setting, self.deletes_counted = watermarked, setting, deletes_counted
        self.optima_key = optima_key
        self.outbound_table, self.outbound_lines_table = outbound_table, outbound_lines_table
        self.out_folder = out_folder
        self.inbound, self.inbound_lines, self.label = inbound, inbound_lines, label
        self.writer, self.import_rank = writer, import_rank
        self.inbox_table, self.inbox_lines_table = inbox_table, inbox_lines_table
        self.in_folder = in_folder

    def __repr__(self) -> str:
        return f"Entity({self.name!r})"

    @property
    def exported(self) -> bool:
        return bool(self.outbound)

    @property
    def imported(self) -> bool:
        return bool(self.inbound)

    def inbound_field(self, name: str) -> Field:
        """The inbound field ``name`` of the record or, failing that, of its lines."""
        fields = self.__dict__.get("_inbound_by_name")
        if fields is None:  # asked for every value of every record: found by name, once built
            fields = {}
            for field in (*self.inbound_lines, *self.inbound):
                fields[field.name] = field
            self.__dict__["_inbound_by_name"] = fields
        try:
            return fields[name]
        except KeyError:
            raise KeyError(f"{self.name} has no inbound field {name!r}") from None


# --- the fields ---------------------------------------------------------------------------

_PRODUCT_OUT = (
    _s("code", 50, True),
    _s("name", 255),
    Field("description", "text"),
    _s("ean", 50),
    _s("unit", 20),
    _d("vat_rate", 5, 2),
    Field("active", "bool"),
)
_PRODUCT_IN = (
    _s("code", 50, True, limit=50),
    _s("name", 255, True, not_null=False, limit=255),
    Field("description", "text"),
    _s("ean", 50, limit=40),
    _s("unit", 20, limit=20),
    Field("vat_rate", "vat", 5, 2),
    Field("active", "bool"),
)

# A customer's name, tax id, address and contact as the exchange columns hold them.
_PARTY = (
    _s("name", 400),
    _s("tax_id", 32),
    _s("street", 255),
    _s("postal_code", 16),
    _s("city", 100),
    _s("country", 100),
    _s("email", 255),
    _s("phone", 64),
)
# ... and as Optima's customer card takes them (the name over Nazwa1..3, the street split
# into street, house and flat number).
_PARTY_IN = (
    _s("name", 400, True, not_null=False, limit=350),
    _s("tax_id", 32, limit=20),
    _s("street", 255, limit=62, cut=True),
    _s("postal_code", 16, limit=10),
    _s("city", 100, limit=40, cut=True),
    _s("country", 100, limit=40),
    _s("email", 255, limit=127),
    _s("phone", 64, limit=20, cut=True),
)

_DOCUMENT_OUT = (
    Field("erp_id", "int", required=True),
    _s("type", 8),
    _s("number", 64),
    Field("issued_at", "datetime"),
    _s("customer_code", 50),
    _s("currency", 3),
    _d("net"),
    _d("vat"),
    _d("gross"),
)
_DOCUMENT_LINE_OUT = (
    Field("erp_id", "int", required=True),
    Field("line_no", "int", required=True),
    _s("product_code", 50),
    _d("quantity"),
    _s("unit", 20),
    _d("unit_price_net"),
    _d("vat_rate", 5, 2),
    _d("net"),
    _d("gross"),
)

# The header of an inbound order or receipt; its customer is a code or the inline fields.
_DOCUMENT_IN = (
    _s("external_id", 100, True, limit=256),
    _s("guid", 36, limit=36),
    Field("issued_at", "datetime"),
    _s("customer_code", 50, limit=20),
    _s("customer_name", 255, limit=350),
    _s("customer_tax_id", 32, limit=20),
    _s("customer_email", 255, limit=127),
    _s("customer_street", 255, limit=62, cut=True),
    _s("customer_postal_code", 16, limit=10),
    _s("customer_city", 100, limit=40, cut=True),
    _s("currency", 3, limit=3),
    Field("notes", "text"),
)
_DOCUMENT_LINE_IN = (
    Field("line_no", "int", not_null=True),  # numbered from the lines' order when not given
    _s("product_code", 50, True, limit=50),
    _d("quantity", required=True, column="TraElem.TrE_Ilosc", sign="positive"),
    _d("unit_price", column="TraElem.TrE_Cena0", sign="not negative"),
    _s("price_kind", 8, limit=10, choices=("net", "gross")),
    Field("vat_rate", "vat", 5, 2),
    # For a numeric vat_rate column that cannot hold a word: zw (exempt) or np (not subject).
    _s("vat_kind", 8, limit=2, choices=VAT_WORDS),
)


# --- the entities -------------------------------------------------------------------------

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            "products",
            key=("code",), outbound=_PRODUCT_OUT, reader="read_products", query="products_query",
            watermarked=True, deletes_counted=True, optima_key=("Towary", "Twr_Kod"),
            outbound_table="optsync_products", out_folder="products",
            inbound=_PRODUCT_IN, label=("code",), writer="import_products", import_rank=4,
            inbox_table="optsync_inbox_products", in_folder="products",
        ),
        Entity(
            "prices",
            key=("product_code", "price_list"),
            outbound=(
                _s("product_code", 50, True),
                Field("price_list", "int", required=True),
                _d("value"),
                _s("currency", 3),
                _s("price_list_name", 50),
            ),
            reader="read_prices", query="prices_query", setting="price_list",
            outbound_table="optsync_prices", out_folder="prices",
            inbound=(
                _s("product_code", 50, True, limit=50),
                Field("price_list", "int", required=True),
                _d("value", required=True, column="TwrCeny.TwC_Wartosc", sign="not negative"),
                _s("currency", 3, limit=3),
            ),
            label=("product_code", "price_list"), writer="import_prices", import_rank=5,
            inbox_table="optsync_inbox_prices", in_folder="prices",
        ),
        Entity(
            "stock",
            key=("product_code", "warehouse"),
            outbound=(
                _s("product_code", 50, True),
                _s("warehouse", 20, True),
                _d("quantity"),
                _d("reserved"),
            ),
            reader="read_stock", query="stock_query", setting="warehouse",
            outbound_table="optsync_stock", out_folder="stock",
        ),
        Entity(
            "customers",
            key=("code",),
            outbound=(_s("code", 50, True), *_PARTY, Field("active", "bool"), _s("guid", 36)),
            reader="read_customers", query="customers_query", record="customer_record",
            watermarked=True, deletes_counted=True, optima_key=("Kontrahenci", "Knt_Kod"),
            outbound_table="optsync_customers", out_folder="customers",
            # no external_id is needed when the record brings its own guid
            inbound=(_s("external_id", 100, not_null=True, limit=256), _s("guid", 36, limit=36),
                     *_PARTY_IN),
            label=("external_id",), writer="import_customers", import_rank=1,
            inbox_table="optsync_inbox_customers", in_folder="customers",
        ),
        Entity(
            "documents",
            key=("erp_id",), outbound=_DOCUMENT_OUT,
            outbound_lines=_DOCUMENT_LINE_OUT, outbound_lines_key=("erp_id", "line_no"),
            reader="read_documents", query="documents_query", watermarked=True,
            outbound_table="optsync_documents", outbound_lines_table="optsync_document_lines",
            out_folder="documents",
        ),
        Entity(
            "orders",
            inbound=_DOCUMENT_IN, inbound_lines=_DOCUMENT_LINE_IN,
            label=("external_id",), writer="import_orders", import_rank=2,
            inbox_table="optsync_inbox_orders", inbox_lines_table="optsync_inbox_order_lines",
            in_folder="orders",
        ),
        Entity(
            "receipts",
            inbound=_DOCUMENT_IN, inbound_lines=_DOCUMENT_LINE_IN,
            label=("external_id",), writer="import_receipts", import_rank=3,
            inbox_table="optsync_inbox_receipts",
            inbox_lines_table="optsync_inbox_receipt_lines", in_folder="receipts",
        ),
    )
}

# Exported entities in the order a pass exports them; imported ones in the order it imports.
EXPORTED: tuple[str, ...] = tuple(e.name for e in ENTITIES.values() if e.exported)
IMPORTED: tuple[str, ...] = tuple(
    e.name for e in sorted(ENTITIES.values(), key=lambda e: e.import_rank) if e.imported
)
