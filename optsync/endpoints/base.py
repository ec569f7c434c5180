"""The interface every endpoint implements: export batches atomically, offer and mark inbound records.

An endpoint is where an integrated application's side of the data lives (SPEC 4). A pass
exports each entity inside one :meth:`Endpoint.export` block (committed when the block ends
without an exception), then reads :meth:`Endpoint.inbox`, marks each record and calls
:meth:`Endpoint.finish_inbox`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from optsync.endpoints.records import ENTITY_KEYS, INBOUND_FIELDS, OUTBOUND_FIELDS
from optsync.errors import BadInput
from optsync.secrets import mask_url  # noqa: F401 - one masking for every URL, also for plugins

Status = Literal["imported", "rejected"]


@dataclass(slots=True)
class Inbound:
    """One inbound record offered by an endpoint, or the reason it could not be read."""

    ref: Any  # opaque to callers; handed back to Endpoint.mark
    record: dict[str, Any] | None
    error: str | None
    label: str  # for logs: the external id, code or file name


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
            width = len(ENTITY_KEYS[self.entity])
            for key in deletes:
                if len(key) != width:
                    raise ValueError(f"{self.entity}: a key has {width} parts, got {key!r}")
            self._delete(deletes)
            self.deleted += len(deletes)

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
        if entity not in OUTBOUND_FIELDS:
            raise BadInput(
                f"cannot export {entity!r}",
                "Exportable entities: " + ", ".join(OUTBOUND_FIELDS),
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
        if entity not in INBOUND_FIELDS:
            raise BadInput(
                f"cannot import {entity!r}",
                "Importable entities: " + ", ".join(INBOUND_FIELDS),
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
        """Make the marks durable; inbounds read with an error and never marked count as rejected."""

    def use_operator(self, acronym: str, password: str | None) -> None:
        """Hand over the Optima operator, for endpoints that log in to an application (SPEC 2.1).

        The built-in endpoints need no login; a plugin that does overrides this.
        """
        self.operator = (acronym, password)

    def close(self) -> None:  # noqa: B027 - nothing to release unless a subclass opens something
        """Release connections and files; the endpoint may not be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
