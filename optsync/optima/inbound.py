"""Pure validation and shaping of inbound records before they touch Optima (no database here).

Each function raises :class:`Rejected` with a reason a user can act on; the writer turns it
into a ``rejected`` import result. :func:`field_text` and :func:`field_number` check a value
against the rules its field declares in :mod:`optsync.entities` (required, the length of the
Optima column, the Optima decimal column it must fit, its sign, its allowed words): the one
place those rules are checked, whether a record came through an endpoint or not.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any

from optsync.decimals import read_decimal
from optsync.entities import VAT_WORDS, Field
from optsync.optima.columns import column_map

CENT = Decimal("0.01")
PLACES4 = Decimal("0.0001")
_HUNDRED = Decimal(100)
_STREET = re.compile(r"^(?P<street>.*?\S)\s+(?P<house>\d+\w*)(?:\s*/\s*(?P<flat>\w+))?$")
_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "đ": "d", "Đ": "D"})


class Rejected(Exception):
    """An inbound record that cannot be imported; the message says why."""


def round2(value: Decimal) -> Decimal:
    """Round half-up to grosze (0.01)."""
    return value.quantize(CENT, ROUND_HALF_UP)


def line_amounts(
    quantity: Decimal, unit_price: Decimal, vat_rate: Decimal, price_kind: str
) -> tuple[Decimal, Decimal]:
    """Return a line's (net, gross): the priced side is quantity x unit price rounded to grosze,
    the other side is derived from that rounded value, so ``vat = gross - net`` is exact."""
    factor = 1 + vat_rate / _HUNDRED
    if price_kind == "gross":
        gross = round2(quantity * unit_price)
        return round2(gross / factor), gross
    net = round2(quantity * unit_price)
    return net, round2(net * factor)


def import_guid(namespace: str, entity: str, external_id: str) -> str:
    """Return the deterministic GUID of an inbound record without its own: a UUID5 of the
    integration ``namespace``, the entity and the external id (``orders`` and ``receipts`` with
    equal external ids must not collide, as both land in ``TraNag``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"optsync:{namespace}:{entity}:{external_id}"))


def text(
    record: Mapping[str, Any],
    key: str,
    *,
    max_len: int | None = None,
    required: bool = False,
    truncate: bool = False,
) -> str:
    """Return ``record[key]`` as stripped text ('' when absent), checking presence and length."""
    value = record.get(key)
    result = "" if value is None else str(value).strip()
    if required and not result:
        raise Rejected(f"missing {key}")
    if max_len is not None and len(result) > max_len:
        if not truncate:
            raise Rejected(f"{key} longer than {max_len} characters")
        result = result[:max_len]
    return result


# The VAT rates Optima accepts on a document line (today's and the earlier 22, 7 and 3 %);
# an exempt line says "zw", a line not subject to VAT "np" (rate 0, VAT flag 1 or 4).
VAT_RATES = tuple(Decimal(r) for r in ("23", "22", "8", "7", "5", "3", "0"))
VAT_FLAGS = dict(zip(VAT_WORDS, (1, 4), strict=True))


def decimal(record: Mapping[str, Any], key: str, *, default: Decimal | None = None) -> Decimal:
    """Return ``record[key]`` as a finite ``Decimal`` (``3.33``, ``"3,33"``, 3), or ``default``.

    Anything else (text, an object, a number written with more than 40 characters, an infinity)
    is rejected, so that no later arithmetic meets a value it cannot handle.
    """
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise Rejected(f"missing {key}")
        return default
    try:
        return read_decimal(value)
    except TypeError:
        raise Rejected(f"{key} is not a number: {_show(value)}") from None
    except ValueError as exc:
        if str(exc) == "too large a number":
            raise Rejected(f"{key} is too large a number") from None
        if str(exc) == "too many digits":
            raise Rejected(f"{key} is not a number Optima can hold: {_show(value)}") from None
        raise Rejected(f"{key} is not a number: {_show(value)}") from None


def fits(value: Decimal, key: str, precision: int, scale: int) -> Decimal:
    """Return ``value`` if a ``decimal(precision, scale)`` column holds it exactly, else reject
    it: a value is never rounded or cut on its way into Optima."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by decimal()
    significant = list(digits)
    while len(significant) > 1 and significant[-1] == 0:
        significant.pop()
        exponent += 1
    if significant == [0]:
        return value
    if -exponent > scale:
        raise Rejected(
            f"{key} {_show(value)} has more than {scale} decimal places; Optima keeps {scale} "
            "and optsync does not round what it is sent"
        )
    if len(significant) + exponent > precision - scale:
        limit = "9" * (precision - scale)
        raise Rejected(f"{key} {_show(value)} is out of range: Optima holds at most {limit}")
    return value


def fits_column(value: Decimal, key: str, table: str, column: str) -> Decimal:
    """:func:`fits` for the precision and scale of an Optima column (``TraElem.TrE_Ilosc``)."""
    return fits(value, key, *_size(table, column))


@cache
def _size(table: str, column: str) -> tuple[int, int]:
    args = column_map(table)[column].args
    return int(args[0]), int(args[1]) if len(args) > 1 else 0


def field_text(record: Mapping[str, Any], field: Field) -> str:
    """The text of ``field`` in ``record`` ('' when absent), checked against the field's rules:
    required, at most ``limit`` characters (cut where the field says so), one of its words."""
    result = text(record, field.name, max_len=field.limit, required=field.required,
                  truncate=field.cut)
    if field.choices:
        result = result.lower()
        if result and result not in field.choices:
            raise Rejected(f"{field.name} must be {' or '.join(field.choices)}, got {result!r}")
    return result


def field_number(record: Mapping[str, Any], field: Field) -> Decimal | None:
    """The number of ``field`` in ``record`` (None when absent and not required), checked
    against the field's rules: required, held exactly by its Optima column, its sign."""
    value = record.get(field.name)
    if not field.required and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    number = decimal(record, field.name)
    if field.column is not None:
        table, column = field.column.split(".")
        number = fits_column(number, field.name, table, column)
    if field.sign == "positive" and number <= 0:
        raise Rejected(f"{field.name} must be positive, got {number}")
    if field.sign == "not negative" and number < 0:
        raise Rejected(f"{field.name} must not be negative, got {number}")
    return number


def vat_rate(record: Mapping[str, Any], key: str = "vat_rate") -> tuple[Decimal, int] | None:
    """A line's VAT as (rate, VAT flag): ``None`` when absent, ``"zw"`` and ``"np"`` as exempt
    and not subject (rate 0), else one of :data:`VAT_RATES` with flag 2 (taxed)."""
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in VAT_FLAGS:
        return Decimal(0), VAT_FLAGS[value.strip().lower()]
    rate = decimal(record, key)
    if rate not in VAT_RATES:
        rates = ", ".join(str(r) for r in VAT_RATES)
        raise Rejected(f"{key} {_show(value)} is not a VAT rate Optima accepts ({rates}, zw, np)")
    return rate, 2


def _show(value: Any) -> str:
    """A value as a reason shows it: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def when(record: Mapping[str, Any], key: str, *, default: datetime) -> datetime:
    """Return ``record[key]`` (ISO text, date or datetime) as a naive local datetime."""
    value = record.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, time())
    else:
        try:
            result = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise Rejected(f"{key} is not an ISO date or time: {value!r}") from None
    if result.tzinfo is not None:
        result = result.astimezone().replace(tzinfo=None)
    return result


def line_no(line: Mapping[str, Any]) -> int:
    """Return a line's ``line_no`` as an int (0 when absent), for ordering the lines."""
    value = line.get("line_no")
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Rejected(f"line_no is not a whole number: {value!r}") from None


def tax_digits(tax_id: str) -> str:
    """Return the digits of a tax id (``PL 525-000-00-00`` → ``5250000000``)."""
    return "".join(ch for ch in tax_id if ch.isdigit())


def ascii_upper(value: str) -> str:
    """Fold to upper-case ASCII letters, digits and single spaces (``Łódź`` → ``LODZ``)."""
    folded = unicodedata.normalize("NFKD", value.translate(_FOLD))
    plain = folded.encode("ascii", "ignore").decode().upper()
    return " ".join(re.sub(r"[^A-Z0-9]+", " ", plain).split())


def code_base(name: str, max_len: int = 20) -> str:
    """Return a customer code made of the name's leading folded words, at most ``max_len`` long."""
    words = ascii_upper(name).split() or ["KLIENT"]
    base = ""
    for word in words:
        candidate = f"{base} {word}".strip()
        if len(candidate) > max_len:
            break
        base = candidate
    return base or words[0][:max_len]


def unique_code(base: str, taken: set[str], max_len: int = 20) -> str:
    """Return ``base``, or ``base`` shortened with the first free ``-2``, ``-3``… suffix."""
    if base.upper() not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: max_len - len(suffix)].rstrip() + suffix
        if candidate.upper() not in taken:
            return candidate
        n += 1


def split_name(name: str, widths: tuple[int, ...] = (50, 50, 250)) -> list[str]:
    """Split a name over Optima's ``Nazwa1..3`` columns at spaces (a long word is cut)."""
    parts, rest = [], name.strip()
    for width in widths:
        if len(rest) <= width:
            parts.append(rest)
            rest = ""
            continue
        cut = rest.rfind(" ", 0, width + 1)
        cut = cut if cut > 0 else width
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts


def split_street(street: str) -> tuple[str, str, str]:
    """Split ``ul. Długa 5/3`` into (street, house number, flat number) as Optima keeps them."""
    match = _STREET.match(street.strip())
    if not match:
        return street.strip(), "", ""
    return match["street"], match["house"], match["flat"] or ""
