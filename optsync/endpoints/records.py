"""The record formats exchanged with endpoints: their JSON coding and the reading of inbound values.

The entities, their fields and keys are declared in :mod:`optsync.entities`. Outbound
records (Optima to the application) are dicts holding exactly the entity's outbound fields;
documents add ``lines``. Inbound records (the application to Optima) come out of
:func:`inbound_record` with every inbound field of the entity present, numbers as
:class:`~decimal.Decimal` (never float), times as :class:`~datetime.datetime`.
JSON carries decimals as strings (``"12.30"``) and times as ISO-8601.

Reading an inbound record only types its values and rejects what cannot be read; whether a
value is given and fits Optima is checked once, by the writer (see :mod:`optsync.entities`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from optsync.decimals import read_decimal
from optsync.entities import ENTITIES, VAT_WORDS, Field

STATUSES = ("new", "imported", "rejected")


def outbound_names(entity: str) -> tuple[str, ...]:
    """The fields of an outbound record of ``entity``, in exchange order."""
    return tuple(f.name for f in ENTITIES[entity].outbound)


def _nested_lines(entity: str) -> tuple[Field, ...]:
    """The fields of a record's nested lines: without the record's key, which they share."""
    spec = ENTITIES[entity]
    return tuple(f for f in spec.outbound_lines if f.name not in spec.key)


class MalformedRecord(ValueError):
    """An inbound record that cannot be read: not an object, no lines, a value of the wrong type."""


def record_key(entity: str, record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The key of an outbound record, as the tuple of its key fields in their declared order."""
    return tuple(record[name] for name in ENTITIES[entity].key)


def inbound_label(entity: str, record: Mapping[str, Any]) -> str | None:
    """A short name of an inbound record for logs: its external id, code or key (cut to 60
    characters: whatever a hostile record holds, a label stays one short line)."""
    names = ENTITIES[entity].label
    if record.get(names[0]) is None:
        return None
    return "/".join(str(_short(record.get(name))) for name in names)


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
    names = ENTITIES[entity].key if op == "delete" else outbound_names(entity)
    obj: dict[str, Any] = {"op": op}
    for name in names:
        obj[name] = to_json_value(record.get(name))
    lines = _nested_lines(entity)
    if lines and op != "delete":
        obj["lines"] = [
            {f.name: to_json_value(line.get(f.name)) for f in lines}
            for line in record.get("lines") or ()
        ]
    return obj


def outbound_from_json(entity: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """An outbound record read back from its JSON object (``op`` dropped), values typed."""
    spec = ENTITIES[entity]
    fields = {f.name: f for f in spec.outbound}
    names = spec.key if obj.get("op") == "delete" else tuple(fields)
    record = {name: coerce(fields[name], obj.get(name)) for name in names}
    lines = _nested_lines(entity)
    if lines and "lines" in obj:
        record["lines"] = [
            {f.name: coerce(f, line.get(f.name)) for f in lines} for line in obj["lines"]
        ]
    return record


# --- typing and checking values ---------------------------------------------------------


# The integer columns (price list numbers, line numbers) are 32-bit.
INT_RANGE = (-(2**31), 2**31 - 1)


def _to_text(value: Any) -> str:
    if isinstance(value, (dict, list, bytes, bytearray, memoryview)):
        raise TypeError
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        raise ValueError  # str() of a huge int is slow or refused; no text column wants one
    return value if isinstance(value, str) else str(to_json_value(value))


def _to_decimal(value: Any) -> Decimal:
    return read_decimal(value)


def _to_vat(value: Any) -> Decimal | str:
    if isinstance(value, str) and value.strip().lower() in VAT_WORDS:
        return value.strip().lower()  # exempt / not subject: a word the writer knows
    return read_decimal(value)


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
    "vat": (_to_vat, "expected a VAT rate (a number, zw or np)"),
    "int": (_to_int, "expected an integer"),
    "bool": (_to_flag, "expected 0/1 or true/false"),
    "datetime": (_to_datetime, "expected an ISO-8601 date or time"),
}


def coerce(field: Field, value: Any) -> Any:
    """A raw value (from JSON or a database row) as the field's Python type; raises
    MalformedRecord for a value that cannot be read as that type. Whether a value is given,
    fits Optima or is one of the allowed words is the writer's to check (see
    :mod:`optsync.entities`)."""
    convert, expected = _CONVERT[field.kind]
    if isinstance(value, str) and not value.strip() and field.kind not in ("str", "text"):
        value = None  # an empty cell of a number or time column means "not given"
    try:
        return None if value is None else convert(value)
    except (ValueError, TypeError, KeyError, ArithmeticError, RecursionError):
        raise MalformedRecord(f"{field.name}: {expected}, got {show(value)}") from None


def inbound_record(
    entity: str,
    raw: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]] | None = None,
    *,
    record_id: int | None = None,
) -> dict[str, Any]:
    """A typed inbound record from a raw header and its raw lines; raises MalformedRecord
    for what cannot be read (the writer validates the values: see :mod:`optsync.entities`)."""
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"expected a JSON object, got {type(raw).__name__}")
    spec = ENTITIES[entity]
    record: dict[str, Any] = {"id": record_id}
    for field in spec.inbound:
        record[field.name] = coerce(field, raw.get(field.name))
    if spec.inbound_lines:
        if lines is None:
            lines = raw.get("lines")
        if not isinstance(lines, Sequence) or isinstance(lines, str) or not lines:
            raise MalformedRecord("lines: a document needs at least one line")
        record["lines"] = [
            _inbound_line(spec.inbound_lines, position, line)
            for position, line in enumerate(lines, start=1)
        ]
    return record


def _inbound_line(fields: tuple[Field, ...], position: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"line {position}: expected an object")
    line: dict[str, Any] = {}
    for field in fields:
        value = raw.get(field.name)
        if field.name == "line_no" and value is None:
            value = position  # JSON lines may leave numbering to their order
        try:
            line[field.name] = coerce(field, value)
        except MalformedRecord as exc:
            raise MalformedRecord(f"line {position}: {exc}") from None
    return line
