"""Atomic, idempotent imports of inbound records into one Optima company.

Every ``import_*`` method takes a list of records and returns one :class:`ImportResult` per
record, in order: ``imported``, ``duplicate`` (Optima has it already: the same import GUID) or
``rejected`` with a reason. Rows are complete as Optima itself writes them (every NOT NULL
column of the table as this database has it, never a computed column), a record lands whole or
not at all, and a bad record never takes good ones down.

The rooms: :mod:`.batch` (chunks, savepoints, complete rows), :mod:`.customers`,
:mod:`.documents` (orders and receipts) with :mod:`.numbering`, and :mod:`.catalogue`
(products and prices).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from optsync.optima.inbound import Rejected
from optsync.optima.operator import OperatorInfo
from optsync.optima.rows import server_now
from optsync.optima.tables import OptimaTables
from optsync.optima.writer.batch import ImportResult, Target, transactional
from optsync.optima.writer.catalogue import Prices, Products
from optsync.optima.writer.customers import Customers
from optsync.optima.writer.documents import NIEOKRESLONY, ORDERS, RECEIPTS, Documents

__all__ = ["NIEOKRESLONY", "ImportResult", "OptimaWriter", "Rejected", "transactional"]


class OptimaWriter:
    """Writes inbound orders, receipts, customers, products and prices into one Optima company.

    Each table's shape is reflected once per writer (a writer serves one pass);
    ``warn`` receives a line about NOT NULL columns the column list does not know, and
    ``clock`` reads the Optima server's time for creation and modification stamps.
    """

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
        warn: Callable[[str], None] | None = None,
        clock: Callable[[Connection], datetime] = server_now,
    ) -> None:
        self.target = Target(
            engine, tables, operator, app_id=app_id, namespace=namespace,
            batch_size=batch_size, warn=warn, clock=clock,
        )
        self.warehouse = warehouse

    def check(self, entity: str, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """What importing ``records`` of ``entity`` would do, without writing anything: the
        rejections found before writing and the records Optima already has (``duplicate``);
        the others come back ``imported`` with no id."""
        dry = copy.copy(self.target)  # shares the reflected shapes
        dry.dry = True
        return self._import(dry, entity, records)

    def import_customers(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Match or insert customers (``external_id, guid, name, tax_id, street, postal_code,
        city, country, email, phone``); a match is ``duplicate`` with the existing id and code."""
        return self._import(self.target, "customers", records)

    def import_orders(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Import customer orders as draft class 308 (RO) documents with their lines."""
        return self._import(self.target, "orders", records)

    def import_receipts(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Import receipts as draft class 305 (PA) documents with their lines."""
        return self._import(self.target, "receipts", records)

    def import_products(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Insert or update products by code (the outbound product fields; ``deleted: 1``
        deactivates)."""
        return self._import(self.target, "products", records)

    def import_prices(self, records: Sequence[Mapping[str, Any]]) -> list[ImportResult]:
        """Insert or update prices by (product, price number) from ``product_code, price_list,
        value, currency``; unknown products or price lists are rejected."""
        return self._import(self.target, "prices", records)

    def _import(
        self, target: Target, entity: str, records: Sequence[Mapping[str, Any]]
    ) -> list[ImportResult]:
        if entity in ("orders", "receipts"):
            kind = ORDERS if entity == "orders" else RECEIPTS
            return Documents(target, Customers(target), kind, self.warehouse).import_records(records)
        importer = {"customers": Customers, "products": Products, "prices": Prices}[entity]
        return importer(target).import_records(records)
