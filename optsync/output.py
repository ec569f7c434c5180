"""Output: JSON on stdout for scripts, tables and messages on stderr/stdout for people.

rich is imported only here and only when a table is drawn.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from optsync.secrets import redact


def emit_json(data: Any) -> None:
    """Write ``data`` as one JSON document on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def emit_json_lines(rows: Iterable[Any]) -> None:
    for row in rows:
        sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    """A message for people, on stderr."""
    sys.stderr.write(redact(message) + "\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    info(f"optsync: warning: {message}")


def error_line(message: str) -> str:
    return redact(f"optsync: error: {message}")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Draw a table on stdout: rich on a terminal, plain aligned columns elsewhere."""
    cells = [["" if v is None else redact(str(v)) for v in row] for row in rows]
    if not sys.stdout.isatty():
        _plain(title, columns, cells)
        return
    # start-up time: rich loads only when a table is drawn on a terminal
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        tab.add_column(col, overflow="fold")
    for row in cells:
        tab.add_row(*row)
    Console(soft_wrap=False).print(tab)


def _plain(title: str | None, columns: Sequence[str], cells: list[list[str]]) -> None:
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = [title] if title else []
    for row in [list(columns), *cells]:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    sys.stdout.write("\n".join(lines) + "\n")
