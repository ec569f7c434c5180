"""The interface every endpoint implements: export batches atomically, offer and mark inbound records.

An endpoint is where an integrated application's side of the data lives. A pass exports each
entity inside one :meth:`Endpoint.export` block (committed when the block ends without an
exception), then reads :meth:`Endpoint.inbox`, marks each record and calls
:meth:`Endpoint.finish_inbox`.

An endpoint also carries optsync's mark (:class:`EndpointMark`): per integration writing to
it, an identity the state database keeps too and the last run that completed there. A pass
compares it with the state database before exporting: a missing, foreign or older mark means
the endpoint was deleted, replaced or restored from a backup, and everything is sent again.
Endpoints that cannot carry a mark (plugins that do not override :meth:`Endpoint.read_marks`)
are never re-sent on that account.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self

from optsync.entities import ENTITIES, EXPORTED, IMPORTED
from optsync.errors import BadInput
from optsync.secrets import mask_url  # noqa: F401 - one masking for every URL, also for plugins

Status = Literal["imported", "rejected"]


def builtin_kind(target: str) -> str:
    """The built-in endpoint that takes a target: ``sql`` for URLs with ``://`` other than
    ``file://`` and for ``odbc:`` connection strings, ``folder`` for everything else (paths
    and ``file://`` URLs)."""
    lowered = target.strip().lower()
    if lowered.startswith("odbc:") or ("://" in lowered and not lowered.startswith("file://")):
        return "sql"
    return "folder"


@dataclass(frozen=True, slots=True)
class EndpointMark:
    """optsync's mark of one integration in an endpoint: who wrote it and the last run completed."""

    identity: str
    last_run: int
    company: str | None = None
    integration: str | None = None
    updated_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "identity": self.identity, "last_run": self.last_run, "company": self.company,
            "integration": self.integration,
            "updated_at": self.updated_at.isoformat(timespec="seconds")
            if self.updated_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EndpointMark:
        """The mark from :meth:`as_json`'s shape; ValueError when it is not one."""
        identity, last_run = data.get("identity"), data.get("last_run")
        if not isinstance(identity, str) or not identity or isinstance(last_run, bool) or (
            not isinstance(last_run, int)
        ):
            raise ValueError("not an optsync mark")
        when = data.get("updated_at")
        return cls(
            identity, last_run,
            company=data.get("company") if isinstance(data.get("company"), str) else None,
            integration=data.get("integration")
            if isinstance(data.get("integration"), str) else None,
            updated_at=datetime.fromisoformat(when) if isinstance(when, str) else None,
        )


@dataclass(slots=True)
class Inbound:
    """One inbound record offered by an endpoint, or the reason it could not be read.

    Whatever the application sent, reading it never raises: a record that cannot be read
    comes with ``error`` set (and ``record`` None) and a ``label`` naming where it is (file and
    line, or table and id), and the pass rejects it with that reason.
    """

    ref: Any  # opaque to callers; handed back to Endpoint.mark
    record: dict[str, Any] | None
    error: str | None
    label: str  # for logs: the external id, code or file name


class RowReading(Protocol):
    """How rows as the source's driver returned them become a record's values, in order.

    ``convert`` does it for a whole row; per column, ``readers`` holds the conversion of its
    value (None: the value as read), and ``decimal_places`` the number of places where the
    conversion is ``Decimal("%.{places}f" % value)`` of a float or int the driver returned.
    An endpoint may use them to turn a row into its own parameters in one step.
    """

    convert: Callable[[Sequence[Any]], list[Any]]
    readers: Sequence[Callable[[Any], Any] | None]
    decimal_places: Sequence[int | None]


class Export(ABC):
    """One entity's outbound changes of one pass: committed if the block ends cleanly, else discarded."""

    def __init__(self, entity: str, run_id: int) -> None:
        self.entity = entity
        self.run_id = run_id
        self.upserted = 0
        self.deleted = 0

    def send(
        self, upserts: Sequence[Mapping[str, Any]], deletes: Sequence[tuple[Any, ...]]
    ) -> None:
        """Stage a batch of records to upsert and keys to mark deleted; may be called many times."""
        if upserts:
            self._upsert(upserts)
            self.upserted += len(upserts)
        if deletes:
            width = len(ENTITIES[self.entity].key)
            for key in deletes:
                if len(key) != width:
                    raise ValueError(f"{self.entity}: a key has {width} parts, got {key!r}")
            self._delete(deletes)
            self.deleted += len(deletes)

    def send_rows(self, names: Sequence[str], rows: Sequence[Sequence[Any]],
                  reading: RowReading | None = None) -> None:
        """Stage a batch of records to upsert given as value rows, each in ``names`` order:
        what :meth:`send` takes as dicts, without building them where the endpoint can do
        without (a full export sends hundreds of thousands). With ``reading``, the rows are
        as the source's driver returned them, and ``reading`` says how they become values."""
        if rows:
            self._upsert_rows(names, rows, reading)
            self.upserted += len(rows)

    def _upsert_rows(self, names: Sequence[str], rows: Sequence[Sequence[Any]],
                     reading: RowReading | None = None) -> None:
        if reading is not None:
            rows = [reading.convert(row) for row in rows]
        self._upsert([dict(zip(names, row)) for row in rows])

    @abstractmethod
    def _upsert(self, records: Sequence[Mapping[str, Any]]) -> None: ...

    @abstractmethod
    def _delete(self, keys: Sequence[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def commit(self) -> None:
        """Make every staged change visible to the application at once."""

    @abstractmethod
    def discard(self) -> None:
        """Drop every staged change; the application sees none of them."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


class Endpoint(ABC):
    """An integrated application's exchange point, built from its target URL or path."""

    kind: ClassVar[str]

    def __init__(self, target: str) -> None:
        self.target = target

    @classmethod
    @abstractmethod
    def accepts(cls, target: str) -> bool:
        """Whether this kind of endpoint handles the target."""

    @property
    def display(self) -> str:
        """The target as it may be shown to people: password masked."""
        return mask_url(self.target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display!r})"

    @abstractmethod
    def check(self) -> None:
        """Raise Unreachable (naming the endpoint, password masked) unless it can be used."""

    def export(self, entity: str, *, run_id: int) -> Export:
        """A context manager staging the entity's outbound changes, committed at a clean exit."""
        if entity not in EXPORTED:
            raise BadInput(
                f"cannot export {entity!r}",
                "Exportable entities: " + ", ".join(EXPORTED),
            )
        return self._export(entity, run_id)

    @abstractmethod
    def _export(self, entity: str, run_id: int) -> Export: ...

    def write(
        self,
        entity: str,
        upserts: Sequence[Mapping[str, Any]],
        deletes: Sequence[tuple[Any, ...]],
        *,
        run_id: int,
    ) -> None:
        """Deliver one batch of outbound changes as its own atomic export."""
        with self.export(entity, run_id=run_id) as out:
            out.send(upserts, deletes)

    def inbox(self, entity: str) -> Iterator[Inbound]:
        """Every inbound record of the entity waiting to be imported, oldest first."""
        if entity not in IMPORTED:
            raise BadInput(
                f"cannot import {entity!r}",
                "Importable entities: " + ", ".join(IMPORTED),
            )
        return self._inbox(entity)

    @abstractmethod
    def _inbox(self, entity: str) -> Iterator[Inbound]: ...

    def mark(
        self,
        entity: str,
        inbound: Inbound,
        *,
        status: Status,
        erp_id: int | None = None,
        erp_number: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome of one inbound record (durable after finish_inbox)."""
        if status not in ("imported", "rejected"):
            raise ValueError(f"status must be 'imported' or 'rejected', got {status!r}")
        self._mark(entity, inbound, status, erp_id, erp_number, error)

    @abstractmethod
    def _mark(
        self,
        entity: str,
        inbound: Inbound,
        status: Status,
        erp_id: int | None,
        erp_number: str | None,
        error: str | None,
    ) -> None: ...

    @abstractmethod
    def finish_inbox(self, entity: str) -> None:
        """Make the marks durable; inbounds read with an error and never marked count as rejected.

        Bookkeeping that fails (a mark that cannot be written, a file that cannot be moved) is
        raised after everything else was recorded, as one error naming the endpoint; the step
        then fails while still counting what Optima received, and the records left unmarked
        are recognised as already imported by the next pass.
        """

    # --- optsync's mark and housekeeping (optional for plugins) ----------------------------

    def read_marks(self) -> dict[str, EndpointMark] | None:
        """Every optsync mark the endpoint carries, by identity ({} when it carries none).

        None means this kind of endpoint cannot carry a mark. Reads only: creates nothing.
        """
        return None

    def write_mark(self, mark: EndpointMark) -> None:  # noqa: B027 - optional for plugins
        """Record (replace) the mark of ``mark.identity``, durably, leaving other marks alone."""

    def holds_data(self) -> bool:
        """Whether the endpoint holds what an earlier optsync wrote (exchange tables with rows,
        an ``out`` folder). Reads only. Decides whether an unmarked endpoint is adopted as it is
        (an upgrade) or filled again (a new, empty one)."""
        return True

    def upgrade(self) -> list[str]:
        """Bring what an earlier optsync created up to date (additive only); what changed."""
        return []

    def live_keys(self, entity: str) -> Iterator[tuple[Any, ...]] | None:
        """Keys of the entity's outbound records the application sees as not deleted.

        None when the endpoint cannot tell (files already consumed). Used after sending
        everything again, to mark deleted what Optima no longer has.
        """
        return None

    def remove_leftovers(self, older_than: float, keep_runs: set[int]) -> list[str]:
        """Remove optsync's own temporary files left by a killed pass; the names removed.

        Only files of optsync's naming pattern, modified before ``older_than`` (a POSIX time)
        and not belonging to a run of ``keep_runs`` (passes still running).
        """
        return []

    def use_operator(self, acronym: str, password: str | None) -> None:
        """Hand over the Optima operator, for endpoints that log in to an application.

        The built-in endpoints need no login; a plugin that does overrides this.
        """
        self.operator = (acronym, password)

    def close(self) -> None:  # noqa: B027 - nothing to release unless a subclass opens something
        """Release connections and files; the endpoint may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
