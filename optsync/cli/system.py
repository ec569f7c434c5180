"""``optsync init``, ``demo``, ``status``, ``doctor``: the home and the service's state."""

from __future__ import annotations

from typing import Annotated

import typer

from optsync import output
from optsync.cli import render
from optsync.cli.common import ctx_of
from optsync.errors import ExitCode

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def init(
    ctx: typer.Context,
    new_secret_key: Annotated[
        bool, typer.Option("--new-secret-key", help="Start a new secret.key after the old "
                           "one was lost; the passwords it stored must then be set again.")
    ] = False,
) -> None:
    """Create the home and the state database (idempotent)."""
    state = ctx_of(ctx).state()
    state.install_id()  # opens, creates and upgrades the database
    from optsync.secrets import mask_url  # start-up time: loaded by this command only

    if new_secret_key:
        kept, lost = state.vault.renew()
        output.info(f"new secret key written to {state.vault.key_path}"
                    + (f"; the old one was moved to {kept}" if kept else ""))
        for secret in lost:
            output.warn(f"{secret.label} must be stored again: {secret.fix}")
    output.info(f"optsync home ready at {state.home} (state database: {mask_url(state.url)})")


def demo(
    ctx: typer.Context,
    reset: Annotated[bool, typer.Option("--reset", help="Start the demo afresh.")] = False,
) -> None:
    """Build the embedded demo (SQLite) in <home>/demo and run a pass of each company."""
    from optsync.demo.world import run_demo  # start-up time: loaded by this command only

    raise typer.Exit(int(run_demo(ctx_of(ctx).home, reset=reset)))


def status(
    ctx: typer.Context,
    json: JsonOpt = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 on a problem: entries missing or drifted, a "
                     "company's last pass failed, no cron daemon for the user crontab."),
    ] = False,
) -> None:
    """Show the state of scheduled passes: OS entries, cron daemon, last and next pass."""
    # start-up time: loaded by this command only
    from optsync.services.status import collect  # start-up time: loaded by this command only

    report = collect(ctx_of(ctx).state(create=False))
    if json:
        output.emit_json(report.as_json())
    else:
        render.status_report(report)
    render.status_problems(report)
    if check and report.problems:
        raise typer.Exit(int(ExitCode.FAILED))


def doctor(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Check what a new installation needs and say how to fix each problem."""
    # start-up time: loaded by this command only
    from optsync.services.doctor import run_checks  # start-up time: loaded by this command only

    checks = run_checks(ctx_of(ctx).state(create=False))
    if json:
        output.emit_json([c.as_json() for c in checks])
    else:
        render.doctor_checks(checks)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(int(ExitCode.FAILED))


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(demo)
    app.command()(status)
    app.command()(doctor)
