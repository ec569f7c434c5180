"""One step of a pass: an (integration, entity, direction) with its counts."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Step:
    integration: str
    entity: str
    direction: str  # export | import
    read: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    status: str = "ok"  # ok | partial (records rejected) | failed
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return f"{self.direction} {self.entity} ({self.integration})"

    def summary(self) -> str:
        parts = [f"read {self.read}", f"written {self.written}"]
        if self.unchanged:
            parts.append(f"unchanged {self.unchanged}")
        if self.deleted:
            parts.append(f"deleted {self.deleted}")
        if self.rejected:
            parts.append(f"rejected {self.rejected}")
        text = f"{self.label}: " + ", ".join(parts)
        return text + (f"; failed: {self.error}" if self.error else "")


def run_status(steps: list[Step]) -> str:
    """ok: every step ok; failed: no step could run; partial: anything in between."""
    if not steps:
        return "ok"
    if all(s.status == "failed" for s in steps):
        return "failed"
    if all(s.status == "ok" for s in steps):
        return "ok"
    return "partial"
