"""The cron start-up path stays light: heavy imports only where they are needed (bench/README.md)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import optsync

HEAVY = ("rich", "pyodbc", "optsync.schedule.windows", "pydantic")


def loaded_after(code: str, env: dict | None = None) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = [m.name for m in pkgutil.walk_packages(optsync.__path__, "optsync.")
             if m.name != "optsync.__main__"]
    code = "import importlib\n" + "\n".join(f"importlib.import_module({n!r})" for n in names)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_imports_neither_sqlalchemy_nor_rich_tables():
    modules = loaded_after(
        "import sys\nfrom optsync.cli.main import app\nsys.argv=['optsync','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass")
    assert "sqlalchemy" not in modules
    assert not {m for m in modules if m.startswith(("rich.table", "pyodbc", "pydantic"))}


def test_a_scheduled_pass_outside_its_window_imports_nothing_heavy(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    home = tmp_path / "home"
    subprocess.run([sys.executable, "-m", "optsync", "--home", str(home), "company", "add",
                    "Firma", "--db", "sqlite:///x.db"], check=True, env=env,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "optsync", "--home", str(home), "schedule", "set",
                    "--company", "Firma", "--disable"], check=True, env=env,
                   capture_output=True)
    modules = loaded_after(
        "import sys\nfrom optsync.cli.main import app\n"
        f"sys.argv=['optsync','--home',{str(home)!r},'run','--company','Firma','--scheduled']\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code",
        env=env)
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}
    assert "optsync.sync.export" not in modules and "optsync.endpoints.sql" not in modules
