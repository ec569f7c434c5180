"""The repository stands on its own: it cites no document outside it, its links resolve, its
command table is the command line, and its help texts speak to an Optima administrator."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Where a reader meets optsync's words: the package, its docs, benchmark and examples, the
# tests (their docstrings say what they show) and the project files.
SCANNED = ("optsync", "docs", "bench", "examples", "tests")
SCANNED_FILES = ("README.md", "CHANGELOG.md", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".yaml", ".yml", ".xml", ".service", ".timer",
                 ".txt", ".example", ".cfg", ".ini", ""}

# A citation of a document that lives outside the repository, however worded.
CITATION = re.compile(
    r"(?-i:\bSPEC\b)"                         # "SPEC 2.6", "(SPEC section 6)"
    r"|\bspec(?:ification)?\s*(?:\.md|§|section|\d)"  # "spec 2.6", "spec.md", "specification §3"
    r"|\bthe\s+(?:product\s+)?(?:spec|specification|contract document)\b"
    r"|\bseed\b"                              # "the seed", "the seed's service section"
    r"|\.\./shared|/work/shared|\bshared/(?:SPEC|optima)"
    r"|optima-schema",
    re.IGNORECASE,
)
# The word "seed" as the random seed of the sample data, in code: an identifier being
# assigned, passed or read (``seed: int = 0``, ``Random(seed)``, ``--seed``), never prose.
RANDOM_SEED = re.compile(r"\bseed\s*[:=,)]|[(=.]\s*seed\b|--seed\b|``seed``")
# This file names the patterns it forbids.
SELF = Path(__file__).resolve()


def _scanned_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if (path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts
                    and path.resolve() != SELF):
                files.append(path)
    return files


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:  # not text
        return []


def citations(path: Path) -> list[str]:
    """``file:line: text`` of every line of ``path`` that cites an outside document."""
    found = []
    for number, line in enumerate(_lines(path), 1):
        for match in CITATION.finditer(line):
            if match.group(0).lower() == "seed" and _is_random_seed(line):
                continue
            found.append(f"{_shown(path)}:{number}: {line.strip()}")
            break
    return found


def _is_random_seed(line: str) -> bool:
    prose = re.search(r"\bthe\s+seed\b|\bseed'?s\b", line, re.IGNORECASE)
    return prose is None and RANDOM_SEED.search(line) is not None


def test_nothing_in_the_repository_cites_a_document_outside_it():
    found = [hit for path in _scanned_files() for hit in citations(path)]
    assert not found, "cites an outside document:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    '"""One pass of a company (SPEC 2.6)."""',
    "# The benchmark (spec section 6)",
    "| Optima (the seed article) | optsync |",
    "like the Seed's service section",
    "see ../shared/optima-schema.md",
    "the columns of /work/shared/optima-columns.tsv",
])
def test_each_form_of_a_citation_is_caught(tmp_path, line):
    path = tmp_path / "probe.py"
    path.write_text(line + "\n", encoding="utf-8")
    assert citations(path), line


@pytest.mark.parametrize("line", [
    "    seed: int = 0,",
    "    rng = random.Random(seed)",
    "create_company_db(url, seed=seed)",
    '    parser.add_argument("--seed", type=int, default=None)',
    "Everything is deterministic for a given ``seed``: names, NIPs",
    "OUTBOUND_SPEC: dict[str, tuple[Field, ...]] = {",
    "for spec in plan_cron(entry.schedule):",
])
def test_a_random_seed_and_a_column_spec_in_code_are_no_citations(tmp_path, line):
    path = tmp_path / "probe.py"
    path.write_text(line + "\n", encoding="utf-8")
    assert not citations(path), line


def test_the_optima_column_list_named_is_the_one_in_the_package():
    """``optima-columns.tsv`` is named only as the package's own copy: a path that exists, or
    the bare name beside the file that holds it."""
    wrong = []
    for path in _scanned_files():
        for number, line in enumerate(_lines(path), 1):
            for match in re.finditer(r"[\w./-]*optima-columns\.tsv", line):
                named = match.group(0)
                here = (ROOT / named).is_file() if "/" in named else (path.parent / named).is_file()
                if not here:
                    wrong.append(f"{_shown(path)}:{number}: {named}")
    assert not wrong, "names a column list outside the package:\n" + "\n".join(wrong)


# -- links ---------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def _prose_lines(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link keeps its text
    text = text.lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file, numbered as GitHub numbers repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or heading is None:
            continue
        slug = github_slug(heading.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{_shown(path)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{_shown(path)}: {target} (no such heading)")
    return broken


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_readme_links_to_the_docs_pages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"README.md does not link to docs/{page.name}"


def test_every_relative_link_in_the_readme_and_the_docs_resolves():
    assert (ROOT / "docs").is_dir()
    broken = [b for path in _markdown_files() for b in broken_links(path)]
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_anchors_are_made_as_github_makes_them(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Home, state database, secrets\n## optsync's mark\n### The `sql` endpoint\n"
        "## Zażółć gęślą jaźń\n## A pass\n## A pass\n```sh\n# not a heading\n```\n"
        "[ok](#a-pass-1) [ok](#optsyncs-mark) [bad](#not-a-heading) [bad](missing.md)\n",
        encoding="utf-8")
    assert anchors(page) == {"home-state-database-secrets", "optsyncs-mark", "the-sql-endpoint",
                             "zażółć-gęślą-jaźń", "a-pass", "a-pass-1"}
    assert broken_links(page) == ["page.md: #not-a-heading (no such heading)",
                                  "page.md: missing.md (no such file)"]


# -- the command table ---------------------------------------------------------------------

def _click_root():
    import typer

    from optsync.cli.main import app

    return typer.main.get_command(app)


def app_commands() -> dict[str, set[str]]:
    """``{"company add": {"--db", ...}}`` for every command a user can run, groups that run
    on their own (``logs``) included; long option names only, without ``--help``."""
    found: dict[str, set[str]] = {}

    def walk(command, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if path and (not subcommands or getattr(command, "invoke_without_command", False)):
            found[" ".join(path)] = {
                name for param in command.params for name in param.opts
                if name.startswith("--") and name != "--help"
            }
        for name, sub in (subcommands or {}).items():
            walk(sub, [*path, name])

    walk(_click_root(), [])
    return found


def _commands_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Commands\n", 1)[1]
    return re.split(r"\n#{1,3} ", section, maxsplit=1)[0]


def table_commands() -> dict[str, set[str]]:
    """The README's command table: ``{"command path": {options named}}``.

    A row's first cell holds one or more forms in backticks separated by ``/``; a form that
    does not start with a command of its own (``show [--json]``) belongs to the group of the
    row's first form (``operator set …``).
    """
    rows = [line for line in _commands_section().splitlines()
            if line.startswith("| `")]
    top = {re.search(r"`(\S+)", row).group(1) for row in rows}  # first word of each row
    found: dict[str, set[str]] = {}
    for row in rows:
        cell = row[1:].split(" | ", 1)[0]
        group: list[str] = []
        for i, form in enumerate(re.findall(r"`([^`]+)`", cell)):
            words = []
            for word in form.split():
                if not re.fullmatch(r"[a-z][a-z0-9-]*", word):
                    break
                words.append(word)
            path = words if i == 0 or words[0] in top else [*group, *words]
            if i == 0:
                group = words[:1]
            found[" ".join(path)] = set(re.findall(r"--[a-z][a-z0-9-]*", form))
    return found


def test_the_command_table_names_every_command_of_the_app_and_no_other():
    app, table = set(app_commands()), set(table_commands())
    assert app - table == set(), f"commands missing from README.md '### Commands': {app - table}"
    assert table - app == set(), f"README.md '### Commands' names no such command: {table - app}"


def test_the_command_table_names_every_option_of_each_command_and_no_other():
    app, table = app_commands(), table_commands()
    wrong = {
        command: {"missing": sorted(app[command] - named), "unknown": sorted(named - app[command])}
        for command, named in table.items()
        if command in app and named != app[command]
    }
    assert not wrong, f"README.md '### Commands' options differ from the app: {wrong}"


def test_the_table_reader_reads_forms_that_share_a_row():
    table = table_commands()
    assert table["operator show"] == {"--json"} and "operator remove" in table
    assert table["logs prune"] == {"--older-than"}
    assert table["integration remove"] == {"--company"}
    assert {"run", "logs", "company rename"} <= set(table)


# -- texts for people ----------------------------------------------------------------------

# A bare Optima column name (``DfC_Lp``, ``Mag_Symbol``): the help says what it means instead.
BARE_COLUMN = re.compile(r"\b[A-Z][A-Za-z]{1,3}_[A-Z][A-Za-z]+\b")
JARGON = re.compile(r"\bseed\b|\bin step\b|\bSPEC\b|\bpasses exit \d+", re.IGNORECASE)


def _every_command():
    def walk(command, path):
        yield " ".join(path), command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(_click_root(), ["optsync"]))


def test_every_option_and_argument_of_every_command_has_a_help_text():
    missing = [
        f"{path} {param.opts[0]}" for path, command in _every_command()
        for param in command.params
        if not (getattr(param, "help", None) or "").strip() and param.opts[0] != "--help"
    ]
    assert not missing, f"no help text: {missing}"


def test_help_texts_use_no_jargon_and_no_bare_column_names():
    bad = []
    for path, command in _every_command():
        texts = [command.help or "", command.short_help or ""]
        texts += [getattr(param, "help", None) or "" for param in command.params]
        for text in texts:
            if JARGON.search(text) or BARE_COLUMN.search(text):
                bad.append(f"{path}: {text}")
    assert not bad, "help texts an Optima administrator would not follow:\n" + "\n".join(bad)
