"""``optsync schedule``: per-company schedules and their OS entries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from optsync import output
from optsync.cli import render
from optsync.cli.common import choice, ctx_of, new_app
from optsync.cli.render import outcome as report
from optsync.errors import BadInput, ExitCode

app = new_app("When each company's passes run (Optima's Harmonogramy), and the cron or Task "
              "Scheduler entries that start them.")
# The names of optsync.schedule.registry (loaded by the install only; a test holds them equal).
BACKENDS = ("auto", "cron", "windows", "external")
BackendOpt = Annotated[
    str, choice("--backend", BACKENDS, "cron",
                      help="Where the entries go: cron, windows (Task Scheduler), "
                      "external (none: something else runs 'optsync run --due' every minute) or "
                      "auto (Task Scheduler on Windows, else cron).")
]
CrontabOpt = Annotated[
    Optional[Path], typer.Option("--crontab", dir_okay=False,
                                 help="A crontab file instead of the user's.")
]


@app.command("set")
def set_(
    ctx: typer.Context,
    company: Annotated[str, typer.Option("--company", help="The company's name.")],
    enable: Annotated[bool, typer.Option("--enable", help="Switch passes on.")] = False,
    disable: Annotated[bool, typer.Option("--disable", help="Switch passes off.")] = False,
    from_: Annotated[Optional[str], typer.Option("--from", help="The first start of "
                                                                  "the day, HH:MM (e.g. 08:00).")] = None,
    to: Annotated[Optional[str], typer.Option("--to", help="The last start of the day, HH:MM, "
                                                           "inclusive; before --from runs past midnight.")] = None,
    every: Annotated[
        Optional[str], typer.Option("--every", help="The time between starts: 15m, 1h, 1h30m "
                                                 "or plain minutes.")
    ] = None,
    days: Annotated[
        Optional[str], typer.Option("--days", help="The days of the week: all, mon-fri, "
                                                "mon,wed,fri or sat-sun.")
    ] = None,
) -> None:
    """Set a company's schedule; unchanged options keep their values."""
    # start-up time: loaded by this command only
    from optsync.schedule.model import parse_days, parse_every, parse_hhmm
    from optsync.services import config as manage

    if enable and disable:
        raise BadInput("--enable and --disable exclude each other", "Give only one of them")
    switch = True if enable else (False if disable else None)
    state = ctx_of(ctx).state()
    manage.company(state, company)  # an unknown company is named first
    for value, option, parse in ((from_, "--from", parse_hhmm), (to, "--to", parse_hhmm),
                                 (every, "--every", parse_every), (days, "--days", parse_days)):
        if value is not None:
            parse(value, option)
    report(manage.set_schedule(state, company, enable=switch, start=from_,
                               end=to, every=every, days=days))


@app.command("list")
def list_(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show every company's schedule, last pass and next pass."""
    from optsync.services.schedules import schedule_rows  # start-up time: this command only

    rows = schedule_rows(ctx_of(ctx).state())
    if json:
        output.emit_json(rows)
        return
    render.schedules(rows)


@app.command()
def install(
    ctx: typer.Context,
    backend: BackendOpt = "auto",
    crontab: CrontabOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written; exit 1 "
                                   "when the installed entries differ from the schedules.")
    ] = False,
    take_over: Annotated[
        bool, typer.Option(
            "--take-over",
            help="Make entries written by another home (this one copied or moved) this "
                 "home's own.",
        )
    ] = False,
    run_as: Annotated[
        Optional[str], typer.Option(
            "--run-as", metavar="ACCOUNT",
            help="Windows: run the tasks as ACCOUNT (e.g. for a folder endpoint on a network "
                 "share); its password is asked on the terminal and never stored.",
        )
    ] = None,
) -> None:
    """Write OS entries for every enabled schedule (idempotent)."""
    # start-up time: loaded by this command only
    from optsync.services.schedules import install as do_install

    account = None
    if run_as is not None and not dry_run:
        account = (run_as, _ask_password(run_as, backend, crontab))
    elif run_as is not None:  # a dry run writes nothing: no password needed to compare
        _check_account(run_as)
        account = (run_as, "")
    result = do_install(ctx_of(ctx).state(), backend, crontab=crontab, dry_run=dry_run,
                        take_over=take_over, run_as=account)
    if dry_run:
        for warning in result.warnings:
            output.warn(warning)
        typer.echo(result.rendered, nl=False)
        if result.changed:
            output.info(f"drift: {result.target} differs from the schedules "
                        "(run 'optsync schedule install')")
            raise typer.Exit(int(ExitCode.FAILED))
        output.info(f"no drift: {result.target} matches the schedules")
        return
    output.info(
        f"{result.entries} entries {'written to' if result.changed else 'already in'} "
        f"{result.target} ({result.backend})"
    )
    if result.taken_over_from:
        output.info(f"the entries were the home {result.taken_over_from}'s; they now start "
                    "this home's passes")
    for warning in result.warnings:
        output.warn(warning)


def _check_account(account: str) -> None:
    from optsync.names import name_problem  # start-up time: loaded by this command only

    problem = name_problem(account)
    if problem is not None:
        raise BadInput(f"--run-as {problem}", r"Give a Windows account, e.g. --run-as DOMAIN\sync")


def _has_terminal() -> bool:
    import sys  # start-up time: loaded by this command only

    return sys.stdin.isatty()


def _ask_password(account: str, backend: str, crontab: Optional[Path]) -> str:
    """The account's password, asked on the terminal without echo (never an argument)."""
    import getpass  # start-up time: loaded by this command only
    import os  # start-up time: loaded by this command only

    _check_account(account)
    if backend == "cron" or crontab is not None or (backend == "auto" and os.name != "nt"):
        raise BadInput("--run-as is for Windows tasks", "Use it with --backend windows")
    if not _has_terminal():
        raise BadInput(
            f"--run-as {account} needs the account's password, asked on a terminal",
            "Run 'optsync schedule install --run-as ...' in a terminal; optsync never takes "
            "the password as an argument and never stores it",
        )
    password = getpass.getpass(f"Password of {account} (not stored): ")
    if not password:
        raise BadInput(
            f"no password given for {account}",
            "Give the account's password, or leave out --run-as for tasks that run as you "
            "without a stored password",
        )
    return password


@app.command()
def uninstall(
    ctx: typer.Context, backend: BackendOpt = "auto", crontab: CrontabOpt = None
) -> None:
    """Remove every OS entry of this home."""
    # start-up time: loaded by this command only
    from optsync.services.schedules import uninstall as do_uninstall

    result = do_uninstall(ctx_of(ctx).state(), backend, crontab=crontab)
    output.info(f"entries {'removed from' if result.changed else 'were not in'} "
                f"{result.target} ({result.backend})")
