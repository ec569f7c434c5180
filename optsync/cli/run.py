"""``optsync run``: one pass of a company, of all, or of those due."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Annotated, Optional

import typer

from optsync import output
from optsync.apps import EXPORT_ENTITIES, IMPORT_ENTITIES
from optsync.cli import render
from optsync.cli.common import choice, ctx_of, known_fault
from optsync.durations import parse_seconds
from optsync.errors import BadInput, ExitCode, OptsyncError

ENTITIES = tuple(dict.fromkeys(EXPORT_ENTITIES + IMPORT_ENTITIES))


def run(
    ctx: typer.Context,
    company: Annotated[Optional[str], typer.Option("--company", help="The name of the company to run.")] = None,
    company_key: Annotated[
        Optional[str], typer.Option(
            "--company-key", metavar="KEY",
            help="One company by its key (what OS entries use; see 'schedule install').")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every company with integrations.")]
    = False,
    due: Annotated[bool, typer.Option("--due", help="Every company whose scheduled start "
                                                          "has come and has not been served yet.")]
    = False,
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="As the OS entries run it: outside the "
                     "schedule's hours or days, do nothing and exit 0.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and compare; write nothing to "
                                                                  "Optima or the applications.")]
    = False,
    full: Annotated[bool, typer.Option("--full", help="Send everything again, not only what "
                                                            "changed since the last pass.")]
    = False,
    only: Annotated[Optional[str], choice(
        "--only", ("export", "import"), "export",
        help="export (Optima to the applications) or import (the applications into Optima).")
    ] = None,
    entity: Annotated[
        Optional[list[str]], choice(
            "--entity", ENTITIES, "products", metavar="ENTITY", help="Only this kind of data: "
            "products, prices, stock, customers, documents, orders or receipts (repeatable).")
    ] = None,
    wait: Annotated[
        str, typer.Option("--wait", metavar="SECONDS", help="When another pass of the company "
                     "is running, wait up to this many seconds for it to end (or 2m, 1h).")
    ] = "0",
    json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Run one synchronization pass: export, then import, per integration."""
    if sum([company is not None, company_key is not None, all_, due]) != 1:
        raise BadInput("choose what to run",
                       "Give exactly one of --company NAME, --company-key KEY, --all, --due")
    wait_seconds = parse_seconds(wait, "--wait")
    from optsync.sync.options import PassOptions  # start-up time: loaded by this command only

    state = ctx_of(ctx).state(create=False)
    if company_key is not None:
        company = _company_by_key(state, company_key)
    trigger = "due" if due else ("scheduled" if scheduled else "manual")
    opts = PassOptions(trigger=trigger, scheduled=scheduled, dry_run=dry_run, full=full,
                       only=only, entities=set(entity or []), wait=wait_seconds)
    people = not json
    with _progress(opts, enabled=people and sys.stderr.isatty()):
        _run(state, opts, company, due, trigger, json=json, people=people)


def _company_by_key(state, key: str) -> str:
    """The name of the company whose key (its number) OS entries gave; unknown: exit 2."""
    # start-up time: loaded by this command only
    from optsync.services.start import company_by_key  # start-up time: the cron path

    found = company_by_key(state, key)
    if found is None:
        raise BadInput(
            f"--company-key {key!r} names no registered company",
            "Run 'optsync schedule install' to rewrite the OS entries",
        )
    return found.name


def _progress(opts, *, enabled: bool, console=None):
    """Progress for people on a terminal; nothing under cron or with --json.

    Each step gets a line with rows done, the total where it is cheap to know (a first export
    of products or customers), the rate and the time left; a finished step leaves its summary.
    """
    if not enabled:
        return nullcontext()
    # start-up time: rich's progress display loads only on a terminal
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console,
        transient=True,
    )
    current: dict[str, int] = {}

    def start(label: str) -> None:
        for task in current.values():
            progress.remove_task(task)
        current.clear()
        current["task"] = progress.add_task(label, total=None, rate="")

    def rows(_entity: str, done: int, total: int | None) -> None:
        task = current.get("task")
        if task is None:
            return
        speed = progress.tasks[-1].speed if progress.tasks else None
        progress.update(task, completed=done, total=total,
                        rate=f"{speed:,.0f} rows/s" if speed else "")

    def finished(step) -> None:
        task = current.pop("task", None)
        if task is not None:
            progress.remove_task(task)
        progress.console.print("  " + step.summary(), highlight=False)

    opts.on_start, opts.on_rows, opts.on_step = start, rows, finished
    return progress


def _run(state, opts, company, due, trigger, *, json: bool, people: bool) -> None:
    if company is not None:
        _run_one(state, opts, company, json=json, people=people)
        return
    # start-up time: the pass machinery (Optima reader, writer, endpoints) loads for a pass
    from optsync.services import passes  # start-up time: loaded by this command only

    chosen = passes.to_run(state, due=due)
    results = []
    failed = False
    for done in passes.run_each(state, chosen, opts):
        if done.error is not None:
            known = done.error if isinstance(done.error, OptsyncError) else known_fault(done.error)
            what = known.message if known is not None else f"unexpected {type(done.error).__name__}"
            output.info(output.error_line(f"{done.company}: {what}"))
        if done.run is None:
            continue  # not even a failed run could be recorded: its error follows
        results.append(done.run)
        failed = failed or done.run.status in ("partial", "failed")
        if people:
            render.pass_summary(done.run)
    if json:
        output.emit_json([r.as_json() for r in results])
    elif people and not chosen:
        output.info("nothing to run" if due else "no company has integrations")
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _run_one(state, opts, company: str, *, json: bool, people: bool) -> None:
    """One company's pass: its JSON or summary, and the exit code its outcome calls for."""
    result = None
    if opts.scheduled:  # cron's start outside the window ends here, before the pass loads
        # start-up time: loaded by this command only
        from optsync.services.start import skipped_outside_window  # start-up time: cron path

        result = skipped_outside_window(state, company, opts.trigger)
    if result is None:
        # start-up time: the pass machinery (Optima reader, writer, endpoints) loads for a pass
        from optsync.services import passes  # start-up time: loaded by this command only

        done = passes.run_one(state, company, opts)
        if done.error is not None:
            if json and done.run is not None:
                output.emit_json(done.run.as_json())
            raise done.error
        result = done.run
    if json:
        output.emit_json(result.as_json())
        if result.status == "skipped" and result.reason == "locked":
            render.pass_summary(result)  # stdout stays JSON; stderr (cron.log) still says why
    elif people:
        render.pass_summary(result)
    if result.status == "skipped":
        raise typer.Exit(int(ExitCode.LOCKED if result.reason == "locked" else ExitCode.OK))
    if result.status != "ok":
        raise typer.Exit(int(ExitCode.FAILED))


def register(app: typer.Typer) -> None:
    app.command()(run)
