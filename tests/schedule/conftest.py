"""Fixtures of the schedule tests; the real crontab stays out of reach outside slow tests."""

from __future__ import annotations

import pytest
from schedule_helpers import FakeSchtasks


@pytest.fixture
def schtasks() -> FakeSchtasks:
    return FakeSchtasks()


@pytest.fixture(autouse=True)
def _no_real_crontab(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Outside slow tests, any attempt to run the real crontab program fails loudly."""
    if request.node.get_closest_marker("slow"):
        return
    import crontab

    monkeypatch.setattr(crontab, "CRON_COMMAND", "/nonexistent/crontab-forbidden-in-tests")
