"""``optsync logs``: the log list; ``--filter sync`` shows what Optima's log list filtered
to the automat shows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Optional

import typer

from optsync import clock, output
from optsync.cli import render
from optsync.cli.common import choice, ctx_of, new_app
from optsync.durations import duration, parse_age
from optsync.errors import BadInput

# The categories and levels of optsync.state.logs (which loads the database layer; a test
# holds them equal).
FILTERS = ("sync", "schedule", "config", "all")
LEVELS = ("debug", "info", "warning", "error")

app = new_app("Log records of every operation.", invoke_without_command=True,
              no_args_is_help=False)


def parse_since(value: str) -> datetime:
    """An age (``2h``, ``3d``: :mod:`optsync.durations`) before now, or an ISO date or time."""
    age = duration(value)
    if age is not None:
        return clock.now() - age
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadInput(f"--since {value!r} is neither a duration nor an ISO date or time",
                       "Use for example --since 2h, --since 3d or --since 2026-11-29") from None
    if when.tzinfo is None:
        when = when.astimezone()  # a naive time is local time
    return when.astimezone(UTC)


@app.callback()
def logs(
    ctx: typer.Context,
    filter_: Annotated[str, choice(
        "--filter", FILTERS, "sync",
        help="sync (passes), schedule (OS entries), config (configuration changes) or all.")]
    = "all",
    company: Annotated[Optional[str], typer.Option(
        "--company", help="Only this company's records (its name).")] = None,
    level: Annotated[
        Optional[str], choice(
            "--level", LEVELS, "warning",
            help="The lowest level shown: debug, info, warning or error.")
    ] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only newer records: an age "
                                                              "(2h, 3d) or an ISO date or time.")]
    = None,
    run: Annotated[Optional[int], typer.Option("--run", help="Only this run's records.")]
    = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest).")] = 50,
    json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout.")] = False,
) -> None:
    """Show log records, newest last."""
    if ctx.invoked_subcommand is not None:
        return
    from optsync.services import logs as store  # start-up time: loaded by this command only

    if limit < 1:
        raise BadInput(f"--limit {limit} is not positive", "Use for example --limit 50")
    records = store.records(
        ctx_of(ctx).state(), category=None if filter_ == "all" else filter_,
        company=company, min_level=level, since=parse_since(since) if since else None,
        run_id=run, limit=limit,
    )
    if json:
        output.emit_json_lines(r.as_json() for r in records)
        return
    render.log_records(records)


@app.command()
def prune(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option("--older-than", help="An age: 90d, 12w or 48h.")],
) -> None:
    """Delete log records older than a duration."""
    from optsync.services import logs as store  # start-up time: loaded by this command only

    age = parse_age(older_than, "--older-than")
    count = store.prune(ctx_of(ctx).state(), clock.now() - age)
    output.info(f"{count} log records older than {older_than} deleted")
