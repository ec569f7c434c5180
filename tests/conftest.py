"""Isolation for every test: no OPTSYNC_* from the developer, a home of its own."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from optsync.demo import sample as _sample

# -- sample company databases, built once per kind and copied -------------------------------
# Every Optima table has its full real shape, so building a sample company takes a moment;
# most tests want the same deterministic one. A SQLite file asked for again with the same
# arguments is a copy of the first one built in this run (tests of the sample module itself
# build theirs: an existing file, or an engine, always goes to the real function).
_build_company_db = _sample.create_company_db
_TEMPLATES: dict[tuple[int, int, int, int], Path] = {}


def _company_db_from_template(url, *, seed=0, products=40, customers=15, documents=5):
    path = Path(url[len("sqlite:///"):]) if isinstance(url, str) and url.startswith("sqlite:///") else None
    if path is None or path.exists() or "?" in url:
        return _build_company_db(url, seed=seed, products=products, customers=customers,
                                 documents=documents)
    key = (seed, products, customers, documents)
    template = _TEMPLATES.get(key)
    if template is None:
        import tempfile

        template = Path(tempfile.mkdtemp(prefix="optsync-sample-")) / "company.db"
        _build_company_db(f"sqlite:///{template}", seed=seed, products=products,
                          customers=customers, documents=documents)
        _TEMPLATES[key] = template
    shutil.copyfile(template, path)
    return None


_sample.create_company_db = _company_db_from_template


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


def _command_built_once() -> None:
    """Typer's test runner builds the whole command tree again for every call; build it once.

    The tree holds no state between calls (options are parsed into a fresh context each time),
    so a test sees exactly what a new process would; building it took a third of a typical
    command's time in the tests.
    """
    import typer.testing

    build = typer.testing._get_command
    if getattr(build, "cached", False):
        return
    built: dict[int, tuple[object, object]] = {}  # the app is kept, so its id stays its own

    def get_command(app):
        if id(app) not in built:
            built[id(app)] = (app, build(app))
        return built[id(app)][1]

    get_command.cached = True
    typer.testing._get_command = get_command


class Cli:
    """Runs ``optsync`` in-process and keeps stdout and stderr apart."""

    def __init__(self) -> None:
        from typer.testing import CliRunner

        from optsync.cli.main import app

        _command_built_once()
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
