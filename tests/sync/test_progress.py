"""Progress people can read on a terminal; nothing but the summary under cron or --json."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time

from rich.console import Console
from sync_world import COMPANY

from optsync.cli.run import _progress
from optsync.sync.engine import PassOptions
from optsync.sync.steps import Step


def test_a_long_step_shows_rows_done_total_and_rate_then_its_summary():
    out = io.StringIO()
    opts = PassOptions()
    console = Console(file=out, force_terminal=True, width=120)
    with _progress(opts, enabled=True, console=console) as progress:
        opts.on_start("Firma: export products (sklep)")
        for done in (5000, 10000, 15000):
            opts.on_rows("products", done, 40000)
            time.sleep(0.05)
        progress.refresh()
        shown = out.getvalue()
        opts.on_step(Step("sklep", "products", "export", read=40000, written=40000))
    assert "export products" in shown
    assert "15000/40000" in shown  # rows done of the total
    assert "rows/s" in shown
    assert "written 40000" in out.getvalue()  # the step's summary stays


def test_no_progress_without_a_terminal():
    opts = PassOptions()
    with _progress(opts, enabled=False):
        pass
    assert opts.on_rows is None and opts.on_start is None


def _run_in_pty(args: list[str], env: dict) -> str:
    """Run optsync with stdin/stdout/stderr on a pseudo-terminal; return what it showed."""
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "optsync", *args], stdin=child,
                            stdout=child, stderr=child, env=env, close_fds=True)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(main)
    return b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_a_pass_shows_its_steps_and_with_json_only_the_json(world):
    env = {**os.environ, "OPTSYNC_HOME": str(world.state.home), "TERM": "xterm"}
    env.pop("_TYPER_FORCE_DISABLE_TERMINAL", None)
    shown = _run_in_pty(["run", "--company", COMPANY, "--only", "export"], env)
    assert "export products (sklep): read 30, written 30" in shown
    as_json = _run_in_pty(["run", "--company", COMPANY, "--only", "export", "--json"], env)
    assert "read 0" not in as_json
    assert json.loads(as_json[as_json.index("{"):])["status"] == "ok"
