"""Insert or update by key: the one place that writes a row whatever its key already holds.

:func:`update_or_insert` is the portable way, row by row: update the row with the key, insert
it when there is none. The state database keeps its few such rows with it (the schema
version, a schedule, an export's mark), and an endpoint falls back to it on a database
without an upsert statement.

For many rows at once, :func:`upsert_statement` gives one statement per SQL dialect for
executemany: SQLite and PostgreSQL get ``INSERT ... ON CONFLICT DO UPDATE``, MySQL ``ON
DUPLICATE KEY UPDATE``, SQL Server a ``MERGE ... WITH (HOLDLOCK)`` over one row of bound
parameters; for any other dialect it returns None and callers use :func:`update_or_insert`.
:class:`Prepared` runs such a statement as a plain executemany of the driver (the exchange
tables' bulk export).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


def update_or_insert(
    conn: Connection, table: Table, keys: Sequence[str],
    rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> None:
    """Write each row (its values by column name, the ``keys`` columns among them): update the
    row with the same key, or insert it when there is none. Rows of one call name the same
    columns. Two writers inserting one new key at once: the table's unique key refuses the
    second, as any insert would."""
    rows = [rows] if isinstance(rows, Mapping) else list(rows)
    if not rows:
        return
    where = and_(*[table.c[k] == bindparam(f"k_{k}") for k in keys])
    others = [name for name in rows[0] if name not in keys]
    if others:
        stmt = table.update().where(where).values({n: bindparam(f"v_{n}") for n in others})
    for row in rows:
        key = {f"k_{k}": row[k] for k in keys}
        if others:
            found = conn.execute(stmt, key | {f"v_{n}": row[n] for n in others}).rowcount
        else:  # nothing to update: only whether the key is there
            found = conn.execute(select(1).select_from(table).where(where), key).first()
        if not found:
            conn.execute(table.insert(), dict(row))


class Merge(Executable, ClauseElement):
    """``MERGE INTO table`` upserting one row whose values are bound by column name."""

    inherit_cache = False

    def __init__(self, table: Table, keys: tuple[str, ...]) -> None:
        self.table = table
        self.keys = keys


@compiles(Merge)
def _compile_merge(element: Merge, compiler: SQLCompiler, **kw: Any) -> str:
    quote = compiler.preparer.quote
    columns = list(element.table.columns)
    # Typed parameters: SQL Server cannot infer the type of a bare "SELECT ?" (fast_executemany).
    type_of = compiler.dialect.type_compiler_instance.process
    source = ", ".join(
        f"CAST({compiler.process(bindparam(c.name, type_=c.type), **kw)} AS "
        f"{type_of(c.type.dialect_impl(compiler.dialect))}) AS {quote(c.name)}"
        for c in columns
    )
    on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in element.keys)
    updates = ", ".join(
        f"t.{quote(c.name)} = s.{quote(c.name)}" for c in columns if c.name not in element.keys
    )
    names = ", ".join(quote(c.name) for c in columns)
    values = ", ".join(f"s.{quote(c.name)}" for c in columns)
    return (
        f"MERGE INTO {compiler.preparer.format_table(element.table)} WITH (HOLDLOCK) AS t "
        f"USING (SELECT {source}) AS s ON {on} "
        f"WHEN MATCHED THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values});"
    )


def upsert_statement(table: Table, keys: tuple[str, ...], dialect_name: str) -> Executable | None:
    """A statement upserting rows keyed by ``keys`` (one dict per row), or None if unsupported."""
    others = [c.name for c in table.columns if c.name not in keys]
    if dialect_name == "sqlite":
        # start-up time: only the dialect of the endpoint in use loads
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table)
        return lite.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={name: lite.excluded[name] for name in others},
        )
    if dialect_name == "postgresql":
        # start-up time: only the dialect of the endpoint in use loads
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={name: pg.excluded[name] for name in others},
        )
    if dialect_name in ("mysql", "mariadb"):
        # start-up time: only the dialect of the endpoint in use loads
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        mstmt = mysql_insert(table)
        return mstmt.on_duplicate_key_update({name: mstmt.inserted[name] for name in others})
    if dialect_name == "mssql":
        return Merge(table, keys)
    return None


class Prepared:
    """An upsert compiled once for a ``qmark`` driver and run as a plain DBAPI executemany.

    SQLAlchemy's per-row parameter handling costs more than SQLite's own insert; this keeps
    the type conversions (the columns' bind processors) and skips the rest.
    """

    def __init__(self, sql: str, names: list[str], processors: list[Any]) -> None:
        self.sql = sql
        self.names = names
        self.processors = processors

    @classmethod
    def build(cls, stmt: Executable, table: Table, dialect: Any) -> Prepared | None:
        """The prepared form of ``stmt``, or None where the driver is not positional (qmark)."""
        if dialect.paramstyle != "qmark":
            return None
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        names = list(compiled.positiontup or ())
        if not names:
            return None
        processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        return cls(str(compiled), names, processors)

    def parameters(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Each row as the tuple of converted values in statement order."""
        return self.row_maker({})(rows)

    def row_maker(self, constants: dict[str, Any], order: Sequence[str] | None = None,
                  reading: Any = None) -> Any:
        """A fast function turning records into parameter tuples, ``constants`` filled in.

        Records are dicts, or with ``order`` value rows in that order of names (a name not
        in it is NULL). With ``reading`` (an :class:`optsync.endpoints.base.RowReading`) the
        value rows are as the source's driver returned them: each value is read and bound in
        one step, a number read into a ``Decimal`` only to be bound as text goes straight to
        the text where the column's bind processor offers it (``from_decimal_places``; its
        ``pattern`` is written out here, for the common case). The per-row code is generated
        once, so a row costs one call and no dict: the hot path of a full export of hundreds
        of thousands of records.
        """
        scope: dict[str, Any] = {}
        parts = []
        for i, (name, proc) in enumerate(zip(self.names, self.processors)):
            read = None
            if order is None:
                value_of = f"r.get({name!r})"
            elif name in order:
                at = list(order).index(name)
                value_of = f"r[{at}]"
                if reading is not None:
                    read = reading.readers[at]
            else:
                value_of = "None"
            if name in constants:
                value = constants[name]
                scope[f"c{i}"] = value if proc is None or value is None else proc(value)
                parts.append(f"c{i}")
            elif read is not None:  # the reader's conversion sees every value, None too
                scope[f"p{i}"] = both = _read_and_bind(read, proc, reading.decimal_places[at])
                pattern = getattr(both, "pattern", None)
                if pattern is None:
                    parts.append(f"p{i}({value_of})")
                else:  # its short way written out: no call for a number's text
                    scope[f"f{i}"], scope["NUMBERS"] = pattern, (float, int)
                    parts.append(f"(t{i} if (v{i} := {value_of}).__class__ in NUMBERS and "
                                 f"(t{i} := f{i} % v{i})[-1].isdigit() else p{i}(v{i}))")
            elif proc is None:
                parts.append(value_of)
            else:
                scope[f"p{i}"] = proc
                parts.append(f"(None if (v{i} := {value_of}) is None else p{i}(v{i}))")
        code = f"lambda rows: [({', '.join(parts)},) for r in rows]"
        return eval(code, scope)  # noqa: S307 - built from column names of our own tables


def _read_and_bind(read: Any, bind: Any, places: int | None) -> Any:
    """One function doing what ``read`` then ``bind`` do (``bind`` never sees None)."""
    if bind is None:
        return read
    direct = getattr(bind, "from_decimal_places", None)
    if direct is not None and places is not None:
        return direct(places, read)

    def read_and_bind(value: Any) -> Any:
        value = read(value)
        return None if value is None else bind(value)

    return read_and_bind

