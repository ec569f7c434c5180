"""The README's set-up commands, the demo and the examples run as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ("init", "demo", "operator", "company", "integration", "schedule", "run", "logs",
            "status", "doctor")


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    env["OPTSYNC_HOME"] = str(home)
    return env


def optsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optsync", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_readme_starts_with_the_two_setup_commands():
    first = re.search(r"```sh\n(.*?)```", README, re.DOTALL).group(1).splitlines()
    assert first[0] == "pip install . && optsync demo"
    assert first[1] == "pip install -e '.[test]' && python -m pytest -n auto"
    assert README.index("```sh") < 200


@pytest.mark.slow  # whole processes, as a user types them
def test_readme_quickstart_demo_runs_and_a_second_run_sends_nothing(tmp_path):
    env = clean_env(tmp_path / "home")
    demo_command = README.split("```sh\n", 1)[1].splitlines()[0].split("&&")[1].split()
    assert demo_command == ["optsync", "demo"]
    first = optsync(*demo_command[1:], env=env)
    assert first.returncode == 0, first.stderr
    assert "export" in first.stdout and "products" in first.stdout  # the steps
    assert "pass of Demo Sp. z o.o. ended ok" in first.stdout  # the log
    assert "# optsync:" in first.stdout and "--scheduled" in first.stdout  # the cron lines
    assert "logs --filter sync" in first.stderr
    second = optsync("demo", env=env)
    assert second.returncode == 0, second.stderr
    runs = subprocess.run(
        [sys.executable, "-m", "optsync", "--home", str(tmp_path / "home" / "demo"), "logs",
         "--filter", "sync", "--limit", "200", "--json"],
        capture_output=True, text=True, env=env).stdout
    import json

    records = [json.loads(line) for line in runs.splitlines()]
    last_runs = sorted({r["run_id"] for r in records if r["run_id"]})[-2:]
    exported = [r["data"]["written"] for r in records
                if r["run_id"] in last_runs and r["data"] and r["data"].get("direction")]
    assert exported and all(n == 0 for n in exported)
    reset = optsync("demo", "--reset", env=env)
    assert reset.returncode == 0 and "building the demo" in reset.stderr


@pytest.mark.slow  # whole processes, as a user types them
def test_examples_quickstart_runs(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "examples" / "quickstart.sh"),
                             str(tmp_path / "qs")], capture_output=True, text=True,
                            env=clean_env(tmp_path / "unused"), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "quickstart done" in result.stdout
    assert '"status": "ok"' in (tmp_path / "qs" / "second-pass.json").read_text()


def test_every_command_has_help_and_a_readme_entry(cli):
    for command in COMMANDS:
        assert f"`{command}" in README or f"optsync {command}" in README, command
        assert cli(command, "--help").stdout.strip()
