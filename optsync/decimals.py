"""Reading a decimal number as applications write it, the same way at every layer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# Numbers written with more characters than this are refused before any arithmetic: no
# exchange or Optima column holds one, and Python's int and decimal code would choke on some.
MAX_NUMBER_CHARS = 40


def read_decimal(value: Any) -> Decimal:
    """A raw number (``3.33``, ``"3,33"``, ``"1 234,50"``, 3) as a finite Decimal.

    A comma is a decimal point and spaces group digits, as Polish applications write numbers.
    Raises TypeError for what is no number (a bool, an object) and ValueError for text that
    is not one, a number written with more than :data:`MAX_NUMBER_CHARS` characters or an
    infinity, so that no later arithmetic meets a value it cannot handle.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TypeError(type(value).__name__)
    if isinstance(value, Decimal):
        number = value
    else:
        if isinstance(value, int) and value.bit_length() > 140:  # str() of a huge int is slow
            raise ValueError("too large a number")
        text = repr(value) if isinstance(value, float) else str(value)
        text = text.strip().replace(",", ".").replace(" ", "")
        if len(text) > MAX_NUMBER_CHARS:
            raise ValueError("too many digits")
        try:
            number = Decimal(text)
        except ArithmeticError:
            raise ValueError("not a number") from None
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number
