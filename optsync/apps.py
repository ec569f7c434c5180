"""The integrated applications and their default flows (which entities each exchanges)."""

from __future__ import annotations

from optsync.entities import EXPORTED, IMPORTED
from optsync.errors import BadInput

# The entities of optsync/entities.py, in the order a pass exports and imports them.
EXPORT_ENTITIES = EXPORTED
IMPORT_ENTITIES = IMPORTED

# app -> (export: Optima to app, import: app to Optima)
APPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "eshop": (("products", "prices", "stock"), ("customers", "orders")),
    "detal": (("products", "prices", "stock", "customers"), ("customers", "receipts")),
    "mobile": (("products", "prices", "stock", "customers"), ("customers", "orders")),
    "xl": (("documents",), ("products", "prices", "customers")),
}


def parse_entities(value: str | None, allowed: tuple[str, ...], option: str) -> list[str] | None:
    """A comma list of entities, checked against ``allowed``; None when not given."""
    if value is None:
        return None
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise BadInput(
            f"{option} names unknown entities: {', '.join(bad)}",
            f"Use a comma list of {', '.join(allowed)}, for example {option} {allowed[0]},"
            f"{allowed[1]}",
        )
    # keep the canonical order, drop repeats
    return [e for e in allowed if e in items]
