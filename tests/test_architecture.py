"""The package's imports: no cycle, arrows only down the layers of docs/architecture.md.

Every file of ``optsync/`` is read with :mod:`ast`, and every import counts, at module level
and inside functions alike (an import inside a function hides a cycle; it does not break it).
Imports under ``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "optsync"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. optsync.cli.run
    target: str  # what it names, e.g. optsync.services.passes or rich.console
    line: int
    local: bool  # inside a function
    comment: str  # the comment on its line or on the line above


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[Import] = []

    def comment(lineno: int) -> str:
        """The comment on the import's line, or above it and the imports it stands over."""
        found = [lines[lineno - 1].split("#", 1)[1]] if "#" in lines[lineno - 1] else []
        above = lineno - 2
        while above >= 0 and lines[above].strip().startswith(("#", "from ", "import ")):
            if lines[above].strip().startswith("#"):
                found.append(lines[above].strip()[1:])
            above -= 1
        return " ".join(found)

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, child.lineno, in_function,
                                        comment(child.lineno)))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".")
                    if path.name != "__init__.py":
                        base = base[:-1]
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:  # ``from pkg import module`` names the module
                    found.append(Import(module, f"{target}.{alias.name}", child.lineno,
                                        in_function, comment(child.lineno)))
            else:
                visit(child, in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source, str(path)), False)
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = [imp for path in MODULES.values() for imp in _imports_of(path)]


def _resolve(target: str) -> str | None:
    """The optsync module an import lands in (``from a import name`` lands in ``a``)."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        target = _resolve(imp.target) if imp.target.startswith("optsync") else None
        if target is not None and target != imp.module:
            graph[imp.module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def test_the_walk_sees_imports_inside_functions_and_a_cycle_through_them():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    local = [i for i in IMPORTS if i.local and i.target.startswith("optsync.services")]
    assert local, "the commands of cli/ import their service inside the function"


def test_no_module_of_the_package_imports_itself_back_through_others():
    assert _cycles(_graph()) == []


def _layers() -> dict[str, int]:
    """Package -> layer, from the table in docs/architecture.md."""
    layers = {}
    for row in re.finditer(r"^\| (\d) \| (.+?) \|$", ARCHITECTURE.read_text(encoding="utf-8"),
                           re.M):
        for name in re.findall(r"`([\w_]+)`", row.group(2)):
            layers[name] = int(row.group(1))
    return layers


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "optsync"


def test_the_architecture_page_places_every_package_in_a_layer():
    layers = _layers()
    packages = {_package(m) for m in MODULES} - {"optsync"}
    assert packages <= set(layers), f"not in docs/architecture.md: {packages - set(layers)}"


def test_imports_run_only_down_the_layers_of_the_architecture_page():
    layers = _layers()
    wrong = []
    for imp in IMPORTS:
        target = _resolve(imp.target) if imp.target.startswith("optsync") else None
        if target is None or target == "optsync":
            continue
        src, dst = _package(imp.module), _package(target)
        if src == dst or src == "optsync":
            continue
        if layers[src] == 0 and layers[dst] == 0:
            continue  # the foundation's modules may use each other (no cycle, tested above)
        if layers[dst] >= layers[src]:
            wrong.append(f"{imp.module}:{imp.line} imports {target} "
                         f"(layer {layers[src]} -> {layers[dst]})")
    assert wrong == []


def _users_of(prefixes: tuple[str, ...]) -> set[str]:
    return {imp.module for imp in IMPORTS
            if any(imp.target == p or imp.target.startswith(p + ".") for p in prefixes)}


def test_nothing_below_the_command_line_imports_typer_or_click():
    assert {m for m in _users_of(("typer", "click")) if _package(m) != "cli"} == set()


def test_rich_is_drawn_only_by_the_output_module_and_the_command_line():
    assert {m for m in _users_of(("rich",))
            if m != "optsync.output" and _package(m) != "cli"} == set()


def test_pyodbc_is_imported_only_by_the_sql_server_modules():
    assert _users_of(("pyodbc",)) <= {"optsync.fastexec", "optsync.services.doctor.odbc"}


def test_services_never_print():
    talkers = _users_of(("optsync.output", "typer", "click", "rich"))
    assert {m for m in talkers if _package(m) == "services"} == set()
    for name, path in MODULES.items():
        if _package(name) != "services":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"{name}:{node.lineno} prints"
            if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr"):
                pytest.fail(f"{name}:{node.lineno} writes to sys.{node.attr}")


REASONS = ("start-up", "to import", "optional", "driver", "probe")
# Files another change is rewriting at this moment; each leaves this list with that change.
IN_PROGRESS: dict[str, str] = {}


def test_an_import_inside_a_function_says_why_it_waits():
    """Start-up time or an optional dependency; any other reason is a hidden arrow."""
    silent = [f"{i.module}:{i.line} {i.target}" for i in IMPORTS
              if i.local and i.module not in IN_PROGRESS
              and not any(r in i.comment for r in REASONS)]
    assert silent == []


def test_scheduler_backends_do_not_import_the_registry_that_names_them():
    graph = _graph()
    backends = [m for m in MODULES if m.startswith("optsync.schedule.")
                and m != "optsync.schedule.registry"]
    assert {m for m in backends if "optsync.schedule.registry" in graph[m]} == set()
    assert {"optsync.schedule.cron", "optsync.schedule.external"} <= graph[
        "optsync.schedule.registry"]


def test_no_result_rides_on_a_caught_exception():
    """What a failed pass recorded is returned with it, never set on the exception caught."""
    patched = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ExceptHandler) and node.name):
                continue
            for inner in ast.walk(node):
                targets = inner.targets if isinstance(inner, ast.Assign) else (
                    [inner.target] if isinstance(inner, (ast.AnnAssign, ast.AugAssign)) else [])
                patched += [f"{name}:{inner.lineno}" for t in targets
                            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                            and t.value.id == node.name]
    assert patched == []


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def test_services_spell_no_command_line_option_outside_their_hints():
    """A service says what it suggests; services/hints.py alone writes the options out."""
    spelled = []
    for name, path in MODULES.items():
        if _package(name) != "services" or name == "optsync.services.hints":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        spelled += [f"{name}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.search(r"(^|\W)--[a-z]", node.value) and id(node) not in docs]
    assert spelled == []
