"""Streaming, batched reads of the Optima entities optsync exports.

Each ``read_*`` function yields ``list[dict]`` batches whose keys are exactly the outbound
fields of its entity (the columns of its table in README.md, "Outbound tables"; plus ``_ts``,
the source modification time, where Optima has one).
Values are ``Decimal``, naive ``datetime`` (Optima's local server time), ``int`` and ``str``.
Each query is built by a ``*_query`` function so that tests can compile it for SQL Server.

Conventions:
- ``active`` is 1 or 0 (Optima's ``*_NieAktywny`` flags inverted).
- An empty currency (``TwC_Waluta``, ``TrN_Waluta``) means the home currency, exported as ``PLN``.
- A price list counts as active when ``DfC_Nieaktywna`` is 0 or NULL (older installs leave
  it NULL); prices of inactive price lists are never read.
- Stock is the latest dated ``TwrIlosci`` row per product and warehouse (undated rows only
  when a pair has no dated row); all-warehouse totals (``TwI_MagId IS NULL``) are left out.
- A document's ``number`` is computed by :func:`optsync.optima.tables.full_number`, never
  read from the computed ``TrN_NumerPelny``; a line's ``unit_price_net`` is its net value
  divided by its quantity, to 4 places, whatever price algorithm the document used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, wait
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Numeric, Select, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from optsync.entities import ENTITIES
from optsync.optima.tables import OptimaTables, full_number

Batch = list[dict[str, Any]]
DOCUMENT_TYPES = {302: "FS", 305: "PA"}
HOME_CURRENCY = "PLN"
IN_CHUNK = 2000  # SQL Server accepts at most 2100 parameters per statement
_PLACES4 = Decimal("0.0001")


def driver_statement(stmt: Any, dialect: Any) -> tuple[str, Any]:
    """A Core statement as the driver takes it: SQL text for ``dialect`` (IN lists written
    out) and its parameters, each through its type's bind processor (a tuple where the
    driver's style is positional)."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    for name, value in list(params.items()):
        # a value of an IN list is named after its list's parameter: ``<list>_<n>``
        bound = compiled.binds[name if name in compiled.binds else name.rsplit("_", 1)[0]]
        process = bound.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            params[name] = process(value)
    args: Any = (tuple(params[n] for n in compiled.positiontup or ())
                 if compiled.positional else params)
    return str(compiled), args


class RawRows:
    """The rows of a Core select straight off the driver's cursor, in batches of plain tuples.

    No SQLAlchemy row objects: the statement is compiled for the connection's dialect, its
    parameters go through the types' bind processors, and the rows stay as the driver
    returns them, so that a pass can hash and compare them as they come. :meth:`convert`
    turns one into Python values (``Decimal``, ``datetime``), applying only the result
    processors the dialect needs (on SQLite: numerics and times; on PostgreSQL: none).
    PostgreSQL reads through a server-side cursor, so memory follows the batch size.
    """

    _names = 0

    def __init__(self, conn: Connection, stmt: Select[Any], batch_size: int = 5000) -> None:
        self.conn = conn
        self.stmt = stmt
        self.batch_size = batch_size
        self.names = [c.key for c in stmt.selected_columns]
        self._processors: list[tuple[int, Any]] = []

    def _cursor(self) -> Any:
        conn, dialect = self.conn, self.conn.dialect
        sql, args = driver_statement(self.stmt, dialect)
        if not conn.in_transaction():
            conn.begin()  # the driver's transaction is then SQLAlchemy's as well
        dbapi = conn.connection.dbapi_connection
        if dialect.name == "postgresql":
            RawRows._names += 1
            cursor = dbapi.cursor(name=f"optsync_read_{RawRows._names}")
            cursor.itersize = self.batch_size
        else:
            cursor = dbapi.cursor()
        cursor.execute(sql, args)
        self._processors = []
        self.readers = [None] * len(self.names)
        self.decimal_places = [None] * len(self.names)
        for i, (column, described) in enumerate(
            zip(self.stmt.selected_columns, cursor.description, strict=True)
        ):
            impl = column.type.dialect_impl(dialect)
            process = impl.result_processor(dialect, described[1])
            if process is not None:
                self._processors.append((i, process))
                self.readers[i] = process
                self.decimal_places[i] = _decimal_places(impl, dialect, process)
        self.record = self._generated("{", "}", lambda name, value: f"{name!r}: {value}")
        self.convert = self._generated("[", "]", lambda _, value: value)
        return cursor

    def _generated(self, opening: str, closing: str, item: Callable[[str, str], str]) -> Any:
        """A function of one raw row, written out once per statement: no loop per value."""
        env: dict[str, Any] = {}
        parts = []
        processed = dict(self._processors)
        for i, name in enumerate(self.names):
            value = f"r[{i}]"
            if i in processed:
                env[f"p{i}"] = processed[i]
                value = f"p{i}({value})"
            parts.append(item(name, value))
        exec(f"def row(r):\n    return {opening}{', '.join(parts)}{closing}\n", env)  # noqa: S102
        return env["row"]

    def __iter__(self) -> Iterator[list[tuple[Any, ...]]]:
        """The batches; while the caller works on one, the next is fetched by a thread of its
        own where the driver allows it (:func:`_reads_ahead`). Close the iterator when leaving
        early (as ``for`` does not): it then waits for that fetch, so the connection is never
        used by two threads at once."""
        cursor = self._cursor()
        size = self.batch_size
        fetch = _fetch_ahead if _reads_ahead(self.conn.connection.dbapi_connection) else _fetch_now
        ahead: Future[list[tuple[Any, ...]]] | None = None
        try:
            rows = cursor.fetchmany(size)
            while rows:
                ahead = fetch(cursor, size)
                yield rows
                rows = ahead.result()
        finally:
            if ahead is not None:
                wait([ahead])
            try:
                cursor.close()
            except Exception:  # noqa: BLE001 - the connection went first: nothing to release
                pass

    # Set when the statement runs (the result types may depend on the driver's description):
    # ``convert(row)`` gives its Python values in select order, ``record(row)`` a dict by name;
    # per column, ``readers`` the conversion of its value (None: as read) and
    # ``decimal_places`` its places where that is ``Decimal("%.{places}f" % value)`` (the
    # ``optsync.endpoints.base.RowReading`` an endpoint is sent with the rows).
    convert: Callable[[Sequence[Any]], list[Any]]
    record: Callable[[Sequence[Any]], dict[str, Any]]
    readers: list[Callable[[Any], Any] | None]
    decimal_places: list[int | None]

    def dicts(self, rows: list[tuple[Any, ...]]) -> Batch:
        record = self.record
        return [record(row) for row in rows]


def _reads_ahead(dbapi: Any) -> bool:
    """Whether the next batch is fetched by a thread while the caller works on this one: with
    psycopg (PostgreSQL), which waits for a batch from the server without Python's lock and
    turns it into rows in one step (a full export 5% faster on the same machine, more over a
    network). Not with drivers that take and give back that lock for every row, as SQLite's
    does (a thread fetching beside the pass made the export a third slower) and pyodbc's
    may: SQL Server's reading ahead waits until it has been measured there."""
    return type(dbapi).__module__.split(".")[0] == "psycopg"


def _fetch(cursor: Any, size: int, future: Future[list[tuple[Any, ...]]]) -> None:
    try:
        future.set_result(cursor.fetchmany(size))
    except BaseException as exc:  # noqa: BLE001 - handed to the reader, which raises it
        future.set_exception(exc)


def _fetch_ahead(cursor: Any, size: int) -> Future[list[tuple[Any, ...]]]:
    """The cursor's next batch, fetched by a thread of its own while the caller works on the
    batch before: the database reads (and the network carries) while Python hashes and the
    endpoint writes. One fetch at a time, so memory holds at most two batches."""
    future: Future[list[tuple[Any, ...]]] = Future()
    threading.Thread(target=_fetch, args=(cursor, size, future), name="optsync-read-ahead",
                     daemon=True).start()
    return future


def _fetch_now(cursor: Any, size: int) -> Future[list[tuple[Any, ...]]]:
    """The cursor's next batch, fetched in the caller's thread (an error waits, as a batch
    read ahead's does, until the caller asks for the batch)."""
    future: Future[list[tuple[Any, ...]]] = Future()
    _fetch(cursor, size, future)
    return future


_PROBES = (0.5, -1234.56789, 7, 1e-9, 98765432.123456789, 0)


def _decimal_places(impl: Any, dialect: Any, process: Callable[[Any], Any]) -> int | None:
    """The places of a ``Numeric`` that the driver returns as float or int and SQLAlchemy
    turns into ``Decimal("%.{places}f" % value)`` (SQLite: no decimals in the driver), checked
    on a few values; None for any other conversion."""
    if (not isinstance(impl, Numeric) or not impl.asdecimal or dialect.supports_native_decimal
            or type(impl).result_processor is not Numeric.result_processor):
        return None
    places = impl._effective_decimal_return_scale
    pattern = f"%.{places}f"
    try:
        same = all(process(v).as_tuple() == Decimal(pattern % v).as_tuple() for v in _PROBES)
    except Exception:  # noqa: BLE001 - not the conversion it looked like
        return None
    return places if same else None


def _stream(conn: Connection, stmt: Select[Any], batch_size: int) -> Iterator[Batch]:
    """Run ``stmt`` on the driver's cursor; yield batches of row dicts."""
    raw = RawRows(conn, stmt, batch_size)
    for rows in raw:
        yield raw.dicts(rows)


def _active(flag: Any) -> Any:
    return case((flag == 0, 1), else_=0)


def _currency(column: Any) -> Any:
    return func.coalesce(func.nullif(column, ""), literal(HOME_CURRENCY))


def products_query(t: OptimaTables, since: datetime | None = None, *,
                   stamp: bool = True) -> Select[Any]:
    """Select products with outbound field names (and ``_ts`` unless ``stamp`` is false).

    In the table's own order (its primary key): Optima has no index on ``Twr_TS_Mod``, so an
    order by it would sort every row read.
    """
    w = t.Towary.c
    stmt = select(
        w.Twr_Kod.label("code"),
        w.Twr_Nazwa.label("name"),
        w.Twr_Opis.label("description"),
        w.Twr_EAN.label("ean"),
        w.Twr_JM.label("unit"),
        w.Twr_Stawka.label("vat_rate"),
        _active(w.Twr_NieAktywny).label("active"),
    )
    if stamp:
        stmt = stmt.add_columns(w.Twr_TS_Mod.label("_ts"))
    if since is not None:
        stmt = stmt.where(w.Twr_TS_Mod >= since)
    return stmt.order_by(w.Twr_TwrId)


def read_products(
    conn: Connection, t: OptimaTables, *, since: datetime | None = None, batch_size: int = 5000
) -> Iterator[Batch]:
    """Yield batches of products modified at or after ``since`` (all when ``None``)."""
    yield from _stream(conn, products_query(t, since), batch_size)


def prices_query(t: OptimaTables, price_list: int | None = None) -> Select[Any]:
    """Select the prices of active price lists (or of one price number ``DfC_Lp``)."""
    c, d, w = t.TwrCeny.c, t.DefCeny.c, t.Towary.c
    stmt = (
        select(
            w.Twr_Kod.label("product_code"),
            d.DfC_Lp.label("price_list"),
            c.TwC_Wartosc.label("value"),
            _currency(c.TwC_Waluta).label("currency"),
            d.DfC_Nazwa.label("price_list_name"),
        )
        .select_from(
            t.TwrCeny.join(t.DefCeny, c.TwC_TwCNumer == d.DfC_Lp).join(
                t.Towary, c.TwC_TwrID == w.Twr_TwrId
            )
        )
        .where(or_(d.DfC_Nieaktywna == 0, d.DfC_Nieaktywna.is_(None)))
    )
    if price_list is not None:
        stmt = stmt.where(d.DfC_Lp == price_list)
    return stmt.order_by(c.TwC_TwrID, c.TwC_TwCNumer)


def read_prices(
    conn: Connection, t: OptimaTables, *, price_list: int | None = None, batch_size: int = 5000
) -> Iterator[Batch]:
    """Yield batches of prices of active price lists, optionally only price number ``price_list``."""
    yield from _stream(conn, prices_query(t, price_list), batch_size)


def stock_query(
    t: OptimaTables, warehouse: str | None = None, *, dialect_name: str = "sqlite"
) -> Select[Any]:
    """Select the current stock per product and warehouse: the latest dated ``TwrIlosci`` row."""
    i, m, w = t.TwrIlosci.c, t.Magazyny.c, t.Towary.c
    h = t.TwrIlosci.alias("hist")
    newest = h.c.TwI_Data.desc()
    if dialect_name == "postgresql":  # the only one that sorts NULLs first in DESC
        newest = newest.nulls_last()
    # One index seek on TwITowar (TwrId, MagId, Data) per row: measured faster on SQLite than
    # MAX(TwI_Data) or ROW_NUMBER() over 400k rows (0.32 s against 0.42 s and 0.55 s).
    current = (
        select(h.c.TwI_TwIId)
        .where(h.c.TwI_TwrId == i.TwI_TwrId, h.c.TwI_MagId == i.TwI_MagId)
        .order_by(newest, h.c.TwI_TwIId.desc())
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(
            w.Twr_Kod.label("product_code"),
            m.Mag_Symbol.label("warehouse"),
            i.TwI_Ilosc.label("quantity"),
            i.TwI_Rezerwacje.label("reserved"),
        )
        .select_from(
            t.TwrIlosci.join(t.Magazyny, i.TwI_MagId == m.Mag_MagId).join(
                t.Towary, i.TwI_TwrId == w.Twr_TwrId
            )
        )
        .where(i.TwI_TwIId == current)
    )
    if warehouse is not None:
        stmt = stmt.where(m.Mag_Symbol == warehouse)
    return stmt.order_by(i.TwI_TwrId, i.TwI_MagId)


def read_stock(
    conn: Connection, t: OptimaTables, *, warehouse: str | None = None, batch_size: int = 5000
) -> Iterator[Batch]:
    """Yield batches of current stock per product and warehouse (``Mag_Symbol``)."""
    yield from _stream(conn, stock_query(t, warehouse, dialect_name=conn.dialect.name), batch_size)


def customers_query(t: OptimaTables, since: datetime | None = None, *,
                    stamp: bool = True) -> Select[Any]:
    """Select the customer columns :func:`read_customers` shapes (``Knt_TS_Mod`` last unless
    ``stamp`` is false), in the table's own order."""
    k = t.Kontrahenci.c
    stmt = select(
        k.Knt_Kod,
        k.Knt_Nazwa1,
        k.Knt_Nazwa2,
        k.Knt_Nazwa3,
        k.Knt_Nip,
        k.Knt_Ulica,
        k.Knt_NrDomu,
        k.Knt_NrLokalu,
        k.Knt_KodPocztowy,
        k.Knt_Miasto,
        k.Knt_Kraj,
        k.Knt_Email,
        k.Knt_Telefon1,
        _active(k.Knt_Nieaktywny).label("active"),
        k.Knt_ImportRowId,
    )
    if stamp:
        stmt = stmt.add_columns(k.Knt_TS_Mod)
    if since is not None:
        stmt = stmt.where(k.Knt_TS_Mod >= since)
    return stmt.order_by(k.Knt_KntId)


def join_name(*parts: str | None) -> str:
    """Join Optima's split name columns (``Nazwa1..3``) into one name."""
    return " ".join(p.strip() for p in parts if p and p.strip())


def join_street(street: str | None, house: str | None, flat: str | None) -> str:
    """Join ``Ulica``, ``NrDomu`` and ``NrLokalu`` the Polish way: ``Długa 5/3``."""
    number = (house or "").strip()
    if flat and flat.strip():
        number = f"{number}/{flat.strip()}"
    return " ".join(p for p in ((street or "").strip(), number) if p)


def _customer(row: Sequence[Any]) -> dict[str, Any]:
    (kod, n1, n2, n3, nip, ulica, dom, lokal, kod_p, miasto, kraj, email, tel, active, guid) = (
        row[:15]
    )
    record = {
        "code": kod,
        "name": join_name(n1, n2, n3),
        "tax_id": nip or "",
        "street": join_street(ulica, dom, lokal),
        "postal_code": kod_p or "",
        "city": miasto or "",
        "country": kraj or "",
        "email": email or "",
        "phone": tel or "",
        "active": active,
        "guid": guid or None,
    }
    if len(row) > 15:
        record["_ts"] = row[15]
    return record


def customer_record(values: Sequence[Any]) -> dict[str, Any]:
    """A row of :func:`customers_query` (Python values) as an outbound customer (with ``_ts``
    when the row has the stamp)."""
    return _customer(values)


def read_customers(
    conn: Connection, t: OptimaTables, *, since: datetime | None = None, batch_size: int = 5000
) -> Iterator[Batch]:
    """Yield batches of customers modified at or after ``since`` (all when ``None``)."""
    raw = RawRows(conn, customers_query(t, since), batch_size)
    for rows in raw:
        yield [_customer(raw.convert(row)) for row in rows]


# Products and customers: the key column, whose values are unique in Optima.
KEY_COLUMNS = {e.name: e.optima_key for e in ENTITIES.values() if e.optima_key is not None}


def count_query(t: OptimaTables, entity: str) -> Select[Any]:
    """How many products or customers Optima holds (an index scan, no row read)."""
    table, _ = KEY_COLUMNS[entity]
    return select(func.count()).select_from(getattr(t, table))


def existing_keys(conn: Connection, t: OptimaTables, entity: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` (product or customer codes) Optima still holds, compared exactly.

    One indexed lookup per code, in chunks SQL Server accepts; a code that only differs in
    letter case (a case-insensitive collation finds it) does not count as the same.
    """
    table, name = KEY_COLUMNS[entity]
    column = getattr(t, table).c[name]
    found: set[str] = set()
    for start in range(0, len(keys), IN_CHUNK):
        chunk = list(keys[start : start + IN_CHUNK])
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def documents_query(
    t: OptimaTables,
    since: datetime | None = None,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> Select[Any]:
    """Select approved, not cancelled FS and PA headers, oldest modification first.

    ``after`` (the ``TrN_TS_Mod`` and ``TrN_TrNID`` of the last row seen) and ``limit`` page
    through the headers by key, so no cursor stays open while the lines are read (SQL Server
    without MARS allows one active result per connection).
    """
    n, k = t.TraNag.c, t.Kontrahenci.c
    party = and_(n.TrN_PodID == k.Knt_KntId, n.TrN_PodmiotTyp == 1)
    stmt = (
        select(
            n.TrN_TrNID,
            n.TrN_TypDokumentu,
            n.TrN_NumerString,
            n.TrN_NumerNr,
            n.TrN_DataDok,
            k.Knt_Kod,
            _currency(n.TrN_Waluta).label("currency"),
            n.TrN_RazemNetto,
            n.TrN_RazemVAT,
            n.TrN_RazemBrutto,
            n.TrN_TS_Mod,
        )
        .select_from(t.TraNag.outerjoin(t.Kontrahenci, party))
        .where(
            n.TrN_TypDokumentu.in_(sorted(DOCUMENT_TYPES)),
            n.TrN_Bufor == 0,
            n.TrN_Anulowany == 0,
        )
    )
    if since is not None:
        stmt = stmt.where(n.TrN_TS_Mod >= since)
    if after is not None:
        ts, trn_id = after
        stmt = stmt.where(or_(n.TrN_TS_Mod > ts, and_(n.TrN_TS_Mod == ts, n.TrN_TrNID > trn_id)))
    stmt = stmt.order_by(n.TrN_TS_Mod, n.TrN_TrNID)
    return stmt.limit(limit) if limit is not None else stmt


def lines_query(t: OptimaTables, document_ids: Sequence[int]) -> Select[Any]:
    """Select the lines of the given documents, in document and line order."""
    e = t.TraElem.c
    return (
        select(
            e.TrE_TrNId,
            e.TrE_Lp,
            e.TrE_TwrKod,
            e.TrE_Ilosc,
            e.TrE_Jm,
            e.TrE_Stawka,
            e.TrE_WartoscNetto,
            e.TrE_WartoscBrutto,
        )
        .where(e.TrE_TrNId.in_(list(document_ids)))
        .order_by(e.TrE_TrNId, e.TrE_Lp, e.TrE_TrEID)
    )


def _line(row: Sequence[Any]) -> dict[str, Any]:
    _, lp, kod, qty, jm, rate, net, gross = row
    unit_net = (net / qty).quantize(_PLACES4, ROUND_HALF_UP) if qty else Decimal("0.0000")
    return {
        "line_no": lp,
        "product_code": kod,
        "quantity": qty,
        "unit": jm,
        "unit_price_net": unit_net,
        "vat_rate": rate,
        "net": net,
        "gross": gross,
    }


def _lines_of(conn: Connection, t: OptimaTables, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for start in range(0, len(ids), IN_CHUNK):
        for row in conn.execute(lines_query(t, ids[start : start + IN_CHUNK])):
            lines[row[0]].append(_line(row))
    return lines


def _document(header: Sequence[Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    trn_id, typ, numer_string, numer_nr, data_dok, knt_kod, currency, net, vat, gross, ts = header
    return {
        "erp_id": trn_id,
        "type": DOCUMENT_TYPES[typ],
        "number": full_number(numer_string, numer_nr),
        "issued_at": data_dok,
        "customer_code": knt_kod,
        "currency": currency,
        "net": net,
        "vat": vat,
        "gross": gross,
        "_ts": ts,
        "lines": lines,
    }


def read_documents(
    conn: Connection, t: OptimaTables, *, since: datetime | None = None, batch_size: int = 1000
) -> Iterator[Batch]:
    """Yield batches of approved FS/PA documents modified at or after ``since``, lines nested."""
    after: tuple[datetime, int] | None = None
    while True:
        headers = conn.execute(documents_query(t, since, after=after, limit=batch_size)).all()
        if not headers:
            return
        lines = _lines_of(conn, t, [h[0] for h in headers])
        yield [_document(header, lines[header[0]]) for header in headers]
        if len(headers) < batch_size:
            return
        after = (headers[-1][-1], headers[-1][0])
