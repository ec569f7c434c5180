"""SQL Server's fast ``executemany`` (pyodbc's ``fast_executemany``), made safe with input sizes.

With ``fast_executemany`` pyodbc sends a whole batch of parameter rows in one round trip,
but sizes its buffers from the first row (or from the driver's guess): a longer text in a
later row fails with "String data, right truncation", an ``nvarchar(max)`` value longer than
4,000 characters cannot be bound at all, and a decimal with more digits than the first row's
is rounded. So before each batch optsync declares the size of every text and decimal
parameter from the batch itself (texts over 4,000 characters as ``nvarchar(max)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event

NVARCHAR_LIMIT = 4000  # longer texts must go as nvarchar(max)


def engine_options(sa_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``create_engine`` options for ``sa_url``: the fast path on SQL Server through pyodbc."""
    if sa_url.startswith("mssql+pyodbc"):
        options.setdefault("fast_executemany", True)
    return options


def install(engine: Engine) -> Engine:
    """Declare input sizes before every fast ``executemany`` of ``engine`` (no-op elsewhere)."""
    if engine.dialect.name == "mssql" and getattr(engine.dialect, "fast_executemany", False):
        event.listen(engine, "before_cursor_execute", _declare_sizes)
    return engine


def _declare_sizes(conn, cursor, statement, parameters, context, executemany) -> None:
    if not executemany or not parameters:
        return
    import pyodbc  # optional: the SQL Server driver (the sqlserver extra)

    sizes = input_sizes(parameters, pyodbc.SQL_WVARCHAR, pyodbc.SQL_DECIMAL)
    if sizes is not None:
        cursor.setinputsizes(sizes)


def input_sizes(rows: Sequence[Sequence[Any]], text_type: int,
                decimal_type: int) -> list[tuple[int, int, int] | None] | None:
    """Per parameter position: ``(type, size, scale)`` for texts and decimals, else None.

    Texts get the longest length of the batch (0, meaning ``max``, above 4,000 characters);
    decimals the precision and scale that hold every value of the batch.
    """
    if not rows or isinstance(rows[0], dict):
        return None  # named parameters: pyodbc takes positional ones only
    width = len(rows[0])
    longest = [0] * width
    texts = [False] * width
    digits = [0] * width  # integer digits
    places = [0] * width  # decimal places
    numbers = [False] * width
    for row in rows:
        for i, value in enumerate(row):
            if type(value) is str:
                texts[i] = True
                if len(value) > longest[i]:
                    longest[i] = len(value)
            elif isinstance(value, Decimal) and value.is_finite():
                numbers[i] = True
                sign, figures, exponent = value.as_tuple()
                scale = max(0, -int(exponent))
                whole = max(0, len(figures) + int(exponent))
                places[i] = max(places[i], scale)
                digits[i] = max(digits[i], whole)
    sizes: list[tuple[int, int, int] | None] = []
    for i in range(width):
        if texts[i]:
            size = longest[i] if longest[i] <= NVARCHAR_LIMIT else 0
            sizes.append((text_type, max(size, 1) if size else 0, 0))
        elif numbers[i]:
            precision = min(38, max(1, digits[i] + places[i]))
            sizes.append((decimal_type, precision, min(places[i], precision)))
        else:
            sizes.append(None)
    return sizes
