"""Endpoint identity: whether an endpoint still holds what the state database says was sent.

Each integration has an identity (a UUID) kept in the state database and written, with the
last run that completed, into the endpoint as optsync's mark. Before exporting, a pass
compares the two:

- the mark is there with the identity and the run the state database remembers: nothing to do;
- the mark is missing, carries other identities only, or names another run (the endpoint was
  deleted, replaced, or restored from an older backup; or the state database was): everything
  of that integration is sent again, as with ``--full``, and the sent-state replaced;
- the state database has no identity yet but has sent-state (an endpoint written by an optsync
  that did not mark endpoints): the endpoint is adopted as it is when it holds data, filled
  again when it is empty;
- nothing was ever sent: a new identity, and the first pass sends everything anyway.

The state side lives in the sync-state table under the reserved entity ``_mark`` of the
integration (removed with the integration): ``digest`` holds ``<identity>:<run>:<pending>``.
Writing a mark is three steps: the state records the run as pending, the endpoint gets the
mark, the state records the run as done. A crash between them leaves a mark that equals
either the done or the pending run, and both are accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select

from optsync.endpoints.base import EndpointMark
from optsync.state import syncstate
from optsync.state import tables as t
from optsync.state.db import State, utcnow
from optsync.sync.known import ENTITY, Known
from optsync.upsert import update_or_insert


def new_identity() -> str:
    return str(uuid.uuid4())


def load(state: State, integration_id: int) -> Known | None:
    m = t.sync_marks
    with state.engine.connect() as conn:
        digest = conn.execute(
            select(m.c.digest).where(m.c.integration_id == integration_id, m.c.entity == ENTITY)
        ).scalar()
    return Known.decode(digest) if digest else None


def save(state: State, integration_id: int, known: Known) -> None:
    m = t.sync_marks
    values = {"digest": known.encode(), "watermark": None, "updated_at": utcnow()}
    with state.engine.begin() as conn:
        update_or_insert(conn, m, ("integration_id", "entity"),
                         {"integration_id": integration_id, "entity": ENTITY, **values})


def drop(state: State, integration_id: int) -> None:
    """Forget the integration's identity (a mark that could not be written the first time)."""
    m = t.sync_marks
    with state.engine.begin() as conn:
        conn.execute(delete(m).where(m.c.integration_id == integration_id, m.c.entity == ENTITY))


def has_sent(state: State, integration_id: int) -> bool:
    """Whether anything was ever recorded as sent for the integration (a step's state saved)."""
    m = t.sync_marks
    with state.engine.connect() as conn:
        return conn.execute(
            select(m.c.entity).where(m.c.integration_id == integration_id, m.c.entity != ENTITY)
            .limit(1)
        ).first() is not None


def forget(state: State, integration_id: int, entity: str) -> list[str]:
    """Drop the entity's sent-state (hashes, watermark, digest); the keys it held."""
    keys = list(syncstate.stored_keys(state, integration_id, entity))
    syncstate.save(state, integration_id, entity, changed=[], deleted=keys,
                   mark=syncstate.Mark(None, None))
    return keys


@dataclass(frozen=True)
class Verdict:
    """What a pass does about an endpoint's mark."""

    known: Known | None  # the identity to mark the endpoint with; None: cannot carry a mark
    resend: bool = False  # send everything of the integration again
    adopted: bool = False  # an endpoint of an earlier optsync, taken as it is
    reason: str | None = None  # why everything is sent again, for the warning

    @property
    def new(self) -> bool:
        return self.known is not None and self.known.run is None and self.known.pending is None


def judge(
    known: Known | None,
    marks: dict[str, EndpointMark] | None,
    has_sent: Callable[[], bool],
    holds_data: Callable[[], bool],
) -> Verdict:
    """Compare the state database's memory with the endpoint's marks (see the module doc)."""
    if marks is None:
        return Verdict(None)
    if known is None:
        fresh = Known(new_identity())
        if not has_sent():
            return Verdict(fresh)
        if holds_data():
            return Verdict(fresh, adopted=True)
        return Verdict(fresh, resend=True, reason=(
            "the endpoint holds nothing optsync wrote although the state database records "
            "sent data (deleted or replaced)"))
    mark = marks.get(known.identity)
    if mark is None:
        why = ("carries another optsync's mark only (replaced by another copy?)" if marks
               else "has no optsync mark (deleted or replaced?)")
        return Verdict(known, resend=True, reason=f"the endpoint {why}")
    if known.accepts(mark.last_run):
        return Verdict(known)
    remembered = known.run if known.run is not None else known.pending
    if remembered is None:
        return Verdict(known, resend=True, reason=(
            f"the endpoint's mark names run {mark.last_run}, which never completed there"))
    if mark.last_run < remembered:
        return Verdict(known, resend=True, reason=(
            f"the endpoint's mark is from run {mark.last_run}, older than run {remembered} "
            f"the state database remembers (restored from a backup?)"))
    return Verdict(known, resend=True, reason=(
        f"the endpoint's mark is from run {mark.last_run}, newer than run {remembered} the "
        f"state database remembers (the state database restored from a backup?)"))


def endpoint_mark(known: Known, run_id: int, company: str, integration: str) -> EndpointMark:
    return EndpointMark(known.identity, run_id, company=company, integration=integration,
                        updated_at=utcnow().replace(tzinfo=None))


def record(state: State, integration_id: int, known: Known, mark: EndpointMark,
           write: Callable[[EndpointMark], None]) -> Known:
    """Write the mark into the endpoint between a pending and a done record in the state."""
    save(state, integration_id, Known(known.identity, known.run, mark.last_run))
    write(mark)
    done = Known(known.identity, mark.last_run, None)
    save(state, integration_id, done)
    return done


def disagreement(state: State, integration_id: int,
                 marks: dict[str, EndpointMark] | None) -> str | None:
    """Why the endpoint's mark disagrees with the state database (for doctor); None if it agrees.

    An unmarked endpoint of an integration never marked yet is not a disagreement: the next
    pass marks it (adopting or filling it).
    """
    if marks is None:
        return None
    known = load(state, integration_id)
    if known is None:
        return None
    verdict = judge(known, marks, lambda: True, lambda: True)
    return verdict.reason if verdict.resend else None
