"""The record formats exchanged with endpoints: fields, keys, types and their JSON coding.

Outbound records (Optima to the application) are dicts holding exactly the fields of
:data:`OUTBOUND_FIELDS`; documents add ``lines``. Inbound records (the application to Optima)
come out of :func:`inbound_record` with every field of :data:`INBOUND_FIELDS` present, numbers
as :class:`~decimal.Decimal` (never float), times as :class:`~datetime.datetime`.
JSON carries decimals as strings (``"12.30"``) and times as ISO-8601.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Field:
    """One column of an exchange table: its name, kind and size."""

    name: str
    kind: str  # "str" | "text" | "int" | "bool" | "decimal" | "datetime"
    size: int | None = None  # characters for "str"; (precision) for "decimal"
    scale: int | None = None  # decimal places for "decimal"
    required: bool = False


def _s(name: str, size: int, required: bool = False) -> Field:
    return Field(name, "str", size, required=required)


def _d(name: str, precision: int = 19, scale: int = 4, required: bool = False) -> Field:
    return Field(name, "decimal", precision, scale, required=required)


_PRODUCT = (
    _s("code", 50, True),
    _s("name", 255),
    Field("description", "text"),
    _s("ean", 50),
    _s("unit", 20),
    _d("vat_rate", 5, 2),
    Field("active", "bool"),
)

# A customer's name, tax id, address and contact: the same columns out and in.
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

OUTBOUND_SPEC: dict[str, tuple[Field, ...]] = {
    "products": _PRODUCT,
    "prices": (
        _s("product_code", 50, True),
        Field("price_list", "int", required=True),
        _d("value"),
        _s("currency", 3),
        _s("price_list_name", 50),
    ),
    "stock": (
        _s("product_code", 50, True),
        _s("warehouse", 20, True),
        _d("quantity"),
        _d("reserved"),
    ),
    "customers": (
        _s("code", 50, True),
        *_PARTY,
        Field("active", "bool"),
        _s("guid", 36),
    ),
    "documents": (
        Field("erp_id", "int", required=True),
        _s("type", 8),
        _s("number", 64),
        Field("issued_at", "datetime"),
        _s("customer_code", 50),
        _s("currency", 3),
        _d("net"),
        _d("vat"),
        _d("gross"),
    ),
}

DOCUMENT_LINE_SPEC: tuple[Field, ...] = (
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

ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "products": ("code",),
    "prices": ("product_code", "price_list"),
    "stock": ("product_code", "warehouse"),
    "customers": ("code",),
    "documents": ("erp_id",),
}
DOCUMENT_LINE_KEY: tuple[str, ...] = ("erp_id", "line_no")

_DOCUMENT_HEADER = (
    _s("external_id", 100, True),
    _s("guid", 36),
    Field("issued_at", "datetime"),
    _s("customer_code", 50),
    _s("customer_name", 255),
    _s("customer_tax_id", 32),
    _s("customer_email", 255),
    _s("customer_street", 255),
    _s("customer_postal_code", 16),
    _s("customer_city", 100),
    _s("currency", 3),
    Field("notes", "text"),
)

INBOUND_SPEC: dict[str, tuple[Field, ...]] = {
    "orders": _DOCUMENT_HEADER,
    "receipts": _DOCUMENT_HEADER,
    "customers": (
        _s("external_id", 100, True),
        _s("guid", 36),
        *_PARTY,
    ),
    "products": _PRODUCT,
    "prices": (
        _s("product_code", 50, True),
        Field("price_list", "int", required=True),
        _d("value", required=True),
        _s("currency", 3),
    ),
}

INBOUND_LINE_SPEC: tuple[Field, ...] = (
    Field("line_no", "int", required=True),
    _s("product_code", 50, True),
    _d("quantity", required=True),
    _d("unit_price"),
    _s("price_kind", 8),
    _d("vat_rate", 5, 2),
)

# Inbound entities whose records carry nested lines.
WITH_LINES = frozenset({"orders", "receipts"})
PRICE_KINDS = ("net", "gross")
STATUSES = ("new", "imported", "rejected")

OUTBOUND_FIELDS: dict[str, tuple[str, ...]] = {
    entity: tuple(f.name for f in spec) for entity, spec in OUTBOUND_SPEC.items()
}
INBOUND_FIELDS: dict[str, tuple[str, ...]] = {
    entity: tuple(f.name for f in spec) for entity, spec in INBOUND_SPEC.items()
}
DOCUMENT_LINE_FIELDS: tuple[str, ...] = tuple(f.name for f in DOCUMENT_LINE_SPEC)
# A document's nested lines leave out erp_id: it is the document's.
NESTED_LINE_FIELDS: tuple[str, ...] = DOCUMENT_LINE_FIELDS[1:]
INBOUND_LINE_FIELDS: tuple[str, ...] = tuple(f.name for f in INBOUND_LINE_SPEC)


class MalformedRecord(ValueError):
    """An inbound record that cannot be read: a missing field or a value of the wrong type."""


def record_key(entity: str, record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The key of an outbound record, as the tuple of its key fields in ENTITY_KEYS order."""
    return tuple(record[name] for name in ENTITY_KEYS[entity])


def inbound_label(entity: str, record: Mapping[str, Any]) -> str | None:
    """A short name of an inbound record for logs: its external id, code or key (cut to 60
    characters: whatever a hostile record holds, a label stays one short line)."""
    if entity == "products":
        value = _short(record.get("code"))
    elif entity == "prices":
        code, number = record.get("product_code"), record.get("price_list")
        value = f"{_short(code)}/{_short(number)}" if code is not None else None
    else:
        value = _short(record.get("external_id"))
    return value


def _short(value: Any, limit: int = 60) -> str | None:
    """A value as a label or reason shows it: plain text, one line, at most ``limit`` characters."""
    if value is None:
        return None
    if isinstance(value, (dict, list, tuple)):
        return "(" + type(value).__name__ + ")"
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit or not text.isprintable():
        text = repr(text)[1:-1]
        if len(text) > limit:
            text = text[: limit - 3] + "..."
    return text


def show(value: Any, limit: int = 40) -> str:
    """A value as a rejection reason quotes it: its repr, cut to ``limit`` characters."""
    if isinstance(value, (dict, list)):
        return "a JSON " + ("object" if isinstance(value, dict) else "array")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return "an integer of more than 38 digits"
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- JSON coding ------------------------------------------------------------------------


def to_json_value(value: Any) -> Any:
    """A value as JSON holds it: decimals as exact strings, times ISO-8601, bools as 0/1."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return value


def outbound_json(entity: str, record: Mapping[str, Any], op: str) -> dict[str, Any]:
    """The JSON object of one outbound change: ``op`` then the fields (keys only for deletes)."""
    names = ENTITY_KEYS[entity] if op == "delete" else OUTBOUND_FIELDS[entity]
    obj: dict[str, Any] = {"op": op}
    for name in names:
        obj[name] = to_json_value(record.get(name))
    if entity == "documents" and op != "delete":
        obj["lines"] = [
            {name: to_json_value(line.get(name)) for name in NESTED_LINE_FIELDS}
            for line in record.get("lines") or ()
        ]
    return obj


def outbound_from_json(entity: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """An outbound record read back from its JSON object (``op`` dropped), values typed."""
    names = ENTITY_KEYS[entity] if obj.get("op") == "delete" else OUTBOUND_FIELDS[entity]
    spec = {f.name: f for f in OUTBOUND_SPEC[entity]}
    record = {name: coerce(spec[name], obj.get(name)) for name in names}
    if entity == "documents" and "lines" in obj:
        line_spec = {f.name: f for f in DOCUMENT_LINE_SPEC}
        record["lines"] = [
            {name: coerce(line_spec[name], line.get(name)) for name in NESTED_LINE_FIELDS}
            for line in obj["lines"]
        ]
    return record


# --- typing and checking values ---------------------------------------------------------


# Numbers written with more characters than this are refused before any arithmetic: no
# exchange column holds one, and Python's int and decimal code would choke on some of them.
MAX_NUMBER_CHARS = 40
# The integer columns (price list numbers, line numbers) are 32-bit.
INT_RANGE = (-(2**31), 2**31 - 1)
# What a line's vat_rate may say instead of a rate: exempt ("zw") or not subject to VAT ("np").
VAT_WORDS = ("zw", "np")


def _to_text(value: Any) -> str:
    if isinstance(value, (dict, list, bytes, bytearray, memoryview)):
        raise TypeError
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        raise ValueError  # str() of a huge int is slow or refused; no text column wants one
    return value if isinstance(value, str) else str(to_json_value(value))


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TypeError
    if isinstance(value, int) and value.bit_length() > 128:
        raise ValueError
    if isinstance(value, Decimal):
        number = value
    else:
        text = repr(value) if isinstance(value, float) else str(value).strip()
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError
        number = Decimal(text)
    if not number.is_finite():
        raise ValueError
    return number


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | Decimal = value
    else:
        number = _to_decimal(value)
        if number != number.to_integral_value():
            raise ValueError
    if not INT_RANGE[0] <= number <= INT_RANGE[1]:  # compared before int(): 1e999999 stays cheap
        raise ValueError
    return int(number)


def _to_flag(value: Any) -> int:
    if isinstance(value, str):
        value = {"1": 1, "true": 1, "yes": 1, "0": 0, "false": 0, "no": 0}[value.strip().lower()]
    if value not in (0, 1):
        raise ValueError
    return int(value)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return datetime.fromisoformat(value.strip())
    raise ValueError


_CONVERT: dict[str, tuple[Callable[[Any], Any], str]] = {
    "str": (_to_text, "expected text"),
    "text": (_to_text, "expected text"),
    "decimal": (_to_decimal, "expected a decimal number"),
    "int": (_to_int, "expected an integer"),
    "bool": (_to_flag, "expected 0/1 or true/false"),
    "datetime": (_to_datetime, "expected an ISO-8601 date or time"),
}


def coerce(field: Field, value: Any) -> Any:
    """A raw value (from JSON or a database row) as the field's Python type; raises MalformedRecord."""
    convert, expected = _CONVERT[field.kind]
    if isinstance(value, str) and not value.strip() and field.kind not in ("str", "text"):
        value = None  # an empty cell of a number or time column means "not given"
    try:
        result = None if value is None else convert(value)
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError):
        raise MalformedRecord(f"{field.name}: {expected}, got {show(value)}") from None
    if field.required and (result is None or (isinstance(result, str) and not result.strip())):
        raise MalformedRecord(f"{field.name} is missing")
    return result


def inbound_record(
    entity: str,
    raw: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]] | None = None,
    *,
    record_id: int | None = None,
) -> dict[str, Any]:
    """A typed inbound record from a raw header and its raw lines; raises MalformedRecord."""
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"expected a JSON object, got {type(raw).__name__}")
    record: dict[str, Any] = {"id": record_id}
    for field in INBOUND_SPEC[entity]:
        record[field.name] = coerce(field, raw.get(field.name))
    if entity in WITH_LINES:
        if lines is None:
            lines = raw.get("lines")
        if not isinstance(lines, Sequence) or isinstance(lines, str) or not lines:
            raise MalformedRecord("lines: a document needs at least one line")
        record["lines"] = [
            _inbound_line(position, line) for position, line in enumerate(lines, start=1)
        ]
    return record


def _inbound_line(position: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"line {position}: expected an object")
    line: dict[str, Any] = {}
    for field in INBOUND_LINE_SPEC:
        value = raw.get(field.name)
        if field.name == "line_no" and value is None:
            value = position  # JSON lines may leave numbering to their order
        if field.name == "vat_rate" and isinstance(value, str) and (
            value.strip().lower() in VAT_WORDS
        ):
            line[field.name] = value.strip().lower()  # exempt / not subject: the writer's rule
            continue
        try:
            line[field.name] = coerce(field, value)
        except MalformedRecord as exc:
            raise MalformedRecord(f"line {position}: {exc}") from None
    if line["price_kind"] is not None and line["price_kind"] not in PRICE_KINDS:
        raise MalformedRecord(
            f"line {position}: price_kind must be 'net' or 'gross', got {show(line['price_kind'])}"
        )
    return line
