"""Isolation for every test: no OPTSYNC_* from the developer, a home of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("OPTSYNC_") and name != "OPTSYNC_TEST_PG_URL":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPTSYNC_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # relative paths in a test land here, never in the checkout
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "test-host")
    monkeypatch.setenv("TERMINAL_WIDTH", "200")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("_TYPER_FORCE_DISABLE_TERMINAL", "1")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


class Cli:
    """Runs ``optsync`` in-process and keeps stdout and stderr apart."""

    def __init__(self) -> None:
        from typer.testing import CliRunner

        from optsync.cli.main import app

        self.app = app
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, code: int | None = 0):
        result = self.runner.invoke(self.app, list(args), input=input, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (
                f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\n"
                f"stderr: {result.stderr}"
            )
        return result

    def json(self, *args: str, code: int | None = 0):
        return json.loads(self(*args, "--json", code=code).stdout)


@pytest.fixture
def cli() -> Cli:
    return Cli()
