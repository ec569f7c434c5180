"""Cheap fingerprints of the tables behind the full-read entities (prices, stock).

Optima keeps no modification time on ``TwrCeny`` or ``TwrIlosci``, so a pass would have to
read every row to learn that nothing changed. Instead the database computes a few aggregates
(counts, maxima of identities and timestamps, plain and position-weighted sums of every
numeric column, and per-value groups of every text column the entity exports; names and
codes of products, warehouses and price lists are covered by their tables' modification
times or read whole); when they equal the last pass's, nothing the entity reads can have changed
and the rows are not read at all. Any difference sends the pass to the exact, row-by-row
comparison, and ``--full`` always does.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Select, cast, func, literal_column, select

from optsync.optima.digest import rows_digest
from optsync.optima.reader import driver_statement
from optsync.optima.tables import OptimaTables

log = logging.getLogger(__name__)


def _weighted(value: Any, ident: Any, prime: int) -> Any:
    return func.sum(value * (ident % prime + 1))


def products_aggregate(t: OptimaTables) -> Select[Any]:
    """How many products, the newest stamp and the highest id: both fingerprints depend on
    the products table (names and codes), and a pass reads it once for them."""
    w = t.Towary.c
    return select(func.count(), func.max(w.Twr_TS_Mod), func.max(w.Twr_TwrId))


# A watermarked entity whose table's newest stamp one of the aggregates gives (its position):
# when it is older than a read's start, that read finds nothing (the quiet check's shortcut).
NEWEST = {"products": (products_aggregate, 1)}


def prices_queries(t: OptimaTables, dialect_name: str = "sqlite") -> list[Select[Any]]:
    c, d = t.TwrCeny.c, t.DefCeny.c
    return [
        # Text columns cannot be summed: grouping by them moves a changed row between groups,
        # which changes their counts and sums. One scan of the table all the same.
        select(
            c.TwC_Waluta, func.count(), func.max(c.TwC_TwCID), func.sum(c.TwC_Wartosc),
            _weighted(c.TwC_Wartosc, c.TwC_TwCID, 1009),
            _weighted(c.TwC_TwCNumer, c.TwC_TwrID, 1013),
            _weighted(c.TwC_TwrID, c.TwC_TwCID, 1019),
        )
        .group_by(c.TwC_Waluta)
        .order_by(c.TwC_Waluta),
        select(d.DfC_Lp, d.DfC_Nazwa, d.DfC_Nieaktywna).order_by(d.DfC_Lp),
        products_aggregate(t),
    ]


def _date_number(column: Any, dialect_name: str) -> Any:
    """A date as a number the database can sum (which row is a pair's current one follows
    its date, so a row dated back must move the fingerprint too)."""
    if dialect_name == "postgresql":
        number = func.extract("epoch", column)
    elif dialect_name == "mssql":
        number = cast(func.datediff(literal_column("minute"), literal_column("'2000-01-01'"),
                                    column), BigInteger)
    else:
        number = func.julianday(column)
    return func.coalesce(number, 0)


def stock_queries(t: OptimaTables, dialect_name: str = "sqlite") -> list[Select[Any]]:
    i, m = t.TwrIlosci.c, t.Magazyny.c
    return [
        select(
            func.count(), func.max(i.TwI_TwIId), func.max(i.TwI_Data),
            func.sum(i.TwI_Ilosc), func.sum(i.TwI_Rezerwacje),
            _weighted(i.TwI_Ilosc, i.TwI_TwIId, 1009),
            _weighted(i.TwI_Rezerwacje, i.TwI_TwIId, 1013),
            _weighted(i.TwI_TwrId, i.TwI_TwIId, 1019),
            _weighted(func.coalesce(i.TwI_MagId, 0), i.TwI_TwIId, 1021),
            _weighted(_date_number(i.TwI_Data, dialect_name), i.TwI_TwIId, 1031),
        ),
        select(func.count(), func.max(m.Mag_TS_Mod), func.max(m.Mag_MagId)),
        products_aggregate(t),
    ]


QUERIES = {"prices": prices_queries, "stock": stock_queries}


def raw_rows(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """A query's rows as the driver returns them: the digest is of these, so that it can be
    computed again from the same SQL without SQLAlchemy (the quiet check of a pass)."""
    return [tuple(row) for row in conn.exec_driver_sql(*driver_statement(query, conn.dialect))]


def fingerprint(conn: Connection, t: OptimaTables, entity: str,
                memo: dict[str, list] | None = None) -> str | None:
    """A digest of what a full read of ``entity`` depends on (None: not fingerprinted).

    ``memo`` keeps query results for the rest of one pass: prices and stock both depend on
    the products table, whose aggregate (a scan of a wide table Optima does not index by
    modification time) is then computed once. A result computed earlier in the pass is
    never newer than the read that follows it, so a change it misses changes the next pass's
    fingerprint instead.
    """
    build = QUERIES.get(entity)
    if build is None:
        return None
    results = []
    for query in build(t, conn.dialect.name):
        key = str(query)
        rows = memo.get(key) if memo is not None else None
        if rows is None:
            rows = raw_rows(conn, query)
            if memo is not None:
                memo[key] = rows
        results.append(rows)
    return rows_digest(results)


WORKERS = 3  # connections computing the aggregates at once, each taking the next query


class Fingerprints:
    """The fingerprints of one pass on one Optima database, computed ahead of their steps.

    :meth:`start` runs the aggregates of the entities a pass will export in background
    threads, each on a connection of its own taking the next query (the scans of the price,
    stock and product tables run side by side), while the pass exports the entities before
    them (the database does the work: the threads mostly wait for it). :meth:`get` waits for
    them, so a step still compares a fingerprint taken before its own read began; if a
    query failed in the background, the step computes the fingerprint again on its own
    connection and meets the error there, where it is reported.
    """

    def __init__(self, tables: OptimaTables) -> None:
        self.tables = tables
        self.memo: dict[str, list] = {}
        self._ready: dict[str, str | None] = {}
        self._threads: list[threading.Thread] = []
        self._keys: dict[str, list[str]] = {}  # entity -> its queries' keys, in order
        self._found: dict[str, list] = {}  # query key -> its rows, as the threads find them

    def start(self, engine: Engine, entities: Iterable[str]) -> None:
        wanted = [e for e in dict.fromkeys(entities) if e in QUERIES]
        if not wanted:
            return
        todo: queue.SimpleQueue[tuple[str, Select[Any]]] = queue.SimpleQueue()
        queued: set[str] = set()
        for entity in wanted:
            queries = [(str(q), q) for q in QUERIES[entity](self.tables, engine.dialect.name)]
            self._keys[entity] = [key for key, _ in queries]  # in order, as fingerprint() has them
            for key, query in queries:
                if key not in queued:
                    queued.add(key)
                    todo.put((key, query))
        found = self._found

        def compute() -> None:
            try:
                with engine.connect() as conn:
                    while True:
                        try:
                            key, query = todo.get_nowait()
                        except queue.Empty:
                            return
                        found[key] = raw_rows(conn, query)
            except Exception as exc:  # noqa: BLE001 - get() computes what is missing, and reports
                log.debug("fingerprints ahead stopped: %s", exc)

        self._threads = [threading.Thread(target=compute, name=f"optsync-fingerprints-{i}",
                                          daemon=True)
                         for i in range(min(WORKERS, len(queued)))]
        for thread in self._threads:
            thread.start()

    def get(self, conn: Connection, entity: str) -> str | None:
        """``entity``'s fingerprint, taken before this call returned."""
        self.wait()
        if entity in self._ready:
            return self._ready[entity]
        return fingerprint(conn, self.tables, entity, self.memo)

    def wait(self) -> None:
        """Let the background computation end (a pass waits for it before it ends)."""
        if not self._threads:
            return
        for thread in self._threads:
            thread.join()
        self._threads = []
        for entity, keys in self._keys.items():
            if all(key in self._found for key in keys):
                self._ready[entity] = rows_digest(self._found[key] for key in keys)
            else:  # a query failed: get() runs only the missing ones, on the pass's connection
                self.memo.update((key, self._found[key]) for key in keys if key in self._found)
        self._keys, self._found = {}, {}

    def written(self) -> None:
        """The pass is about to write into Optima: what was taken before no longer stands,
        and the steps after it take their fingerprints themselves."""
        self.wait()
        self._ready.clear()
        self.memo.clear()
