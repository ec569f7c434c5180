"""What a pass is asked to do, and whom it tells about its progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from optsync.sync.steps import Step


@dataclass
class PassOptions:
    trigger: str = "manual"  # manual | scheduled | due
    scheduled: bool = False
    dry_run: bool = False
    full: bool = False
    only: str | None = None  # export | import
    entities: set[str] = field(default_factory=set)
    wait: float = 0.0
    on_start: Callable[[str], None] | None = None  # progress for people: a step begins
    on_step: Callable[[Step], None] | None = None  # progress for people: a step ended
    # progress for people within a long step: (entity, rows done, total when cheap to know)
    on_rows: Callable[[str, int, int | None], None] | None = None

    @property
    def complete(self) -> bool:
        """Whether this pass does everything a scheduled one would (and so serves --due)."""
        return not (self.dry_run or self.only or self.entities)
