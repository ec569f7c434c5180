"""Exit codes come from ExitCode only: no command ends with a bare number."""

from __future__ import annotations

import ast
from pathlib import Path

import optsync
from optsync.errors import ExitCode

PACKAGE = Path(optsync.__file__).parent
EXITS = {"Exit", "SystemExit", "exit"}


def _bare_exit_codes() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in EXITS and isinstance(node.args[0], ast.Constant):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_no_command_exits_with_a_bare_number():
    assert _bare_exit_codes() == []


def test_an_interrupted_command_exits_as_a_shell_reports_ctrl_c():
    assert ExitCode.INTERRUPTED == 128 + 2
