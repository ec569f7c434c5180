"""One finding of ``optsync doctor``: ok, warn or fail, with how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optsync.secrets import redact

STATUSES = ("ok", "warn", "fail")


@dataclass
class Check:
    """One finding: what was checked, ok|warn|fail, what was found, and how to fix it."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        assert self.status in STATUSES, self.status
        self.detail = redact(self.detail)
        self.fix = redact(self.fix)

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "detail": self.detail,
                "fix": self.fix}
