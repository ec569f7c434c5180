"""What the state database remembers of an integration's endpoint (:mod:`optsync.sync.identity`).

Apart from that module, without SQLAlchemy, so that the quiet check of a pass
(:mod:`optsync.sync.quiet`) reads the same record the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTITY = "_mark"  # the sync-state row it lives in; reserved: never an exported entity's name


@dataclass(frozen=True)
class Known:
    """What the state database remembers of an integration's endpoint."""

    identity: str
    run: int | None = None  # the last run whose mark the endpoint received
    pending: int | None = None  # a run whose mark was being written

    def encode(self) -> str:
        return f"{self.identity}:{self.run or ''}:{self.pending or ''}"

    @classmethod
    def decode(cls, text: str) -> Known | None:
        parts = text.split(":")
        if len(parts) != 3 or not parts[0]:
            return None
        try:
            run = int(parts[1]) if parts[1] else None
            pending = int(parts[2]) if parts[2] else None
        except ValueError:
            return None
        return cls(parts[0], run, pending)

    def accepts(self, run: int) -> bool:
        return run in (self.run, self.pending)
