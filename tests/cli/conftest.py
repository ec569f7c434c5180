"""CLI test fixtures: the real crontab out of reach, a fake ``crontab`` program, companies."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

FAKE_CRONTAB = """#!/bin/sh
# A stand-in for crontab(1) keeping "the user crontab" in one file.
store="{store}"
if [ "$1" = "-l" ]; then
    if [ -f "$store" ]; then cat "$store"; exit 0; fi
    echo "no crontab for tester" >&2; exit 1
fi
cat "$1" > "$store"
"""


@pytest.fixture(autouse=True)
def _no_real_crontab(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Outside slow tests, any attempt to run the real crontab program fails loudly."""
    if request.node.get_closest_marker("slow"):
        return
    import crontab

    monkeypatch.setattr(crontab, "CRON_COMMAND", "/nonexistent/crontab-forbidden-in-tests")


@pytest.fixture
def user_crontab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fake crontab program standing in for the user's crontab; returns the file it keeps."""
    import crontab

    store = tmp_path / "user-crontab"
    program = tmp_path / "bin" / "crontab"
    program.parent.mkdir()
    program.write_text(FAKE_CRONTAB.format(store=store))
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(crontab, "CRON_COMMAND", str(program))
    return store


@pytest.fixture
def companies(cli):
    """Register companies (database need not exist) with a schedule each; returns a helper."""

    def add(*names: str, every: str = "30m") -> None:
        for name in names:
            cli("company", "add", name, "--db", f"sqlite:///{name.replace(' ', '_')}.db")
            cli("schedule", "set", "--company", name, "--every", every)

    return add
