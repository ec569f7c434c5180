"""The ``optsync`` command: global options and the command groups."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from optsync import __version__
from optsync.cli import company, integration, logs, operator, run, schedule, system
from optsync.cli.common import Ctx, _debug_env, new_app

app = new_app(
    "The Comarch ERP Optima synchronization automat, driven by cron or Task Scheduler.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"optsync {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Optional[str],
        typer.Option("--home", help="Folder of optsync's files [default: $OPTSYNC_HOME, "
                     "else the user data folder].", show_default=False),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show an error's full traceback "
                                                    "(for a bug report).")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Show the version and exit.")
    ] = False,
) -> None:
    from optsync.home import resolve_home  # start-up time: loaded by this command only

    ctx.obj = Ctx(home=resolve_home(home), debug=debug or _debug_env())
    ctx.call_on_close(ctx.obj.close)


system.register(app)
app.add_typer(operator.app, name="operator")
app.add_typer(company.app, name="company")
app.add_typer(integration.app, name="integration")
app.add_typer(schedule.app, name="schedule")
run.register(app)
app.add_typer(logs.app, name="logs")


def _command(argv: list[str]) -> str | None:
    """The command word of ``argv``, after the global options."""
    i = 0
    while i < len(argv):
        if argv[i] == "--home":
            i += 2
        elif argv[i].startswith("--home=") or argv[i] == "--debug":
            i += 1
        else:
            return argv[i]
    return None


def main() -> None:
    import sys  # start-up time: loaded by this command only

    if _command(sys.argv[1:]) == "run":  # what cron starts: build only that command
        lean = new_app(app.info.help, context_settings={"help_option_names": ["-h", "--help"]})
        lean.callback()(root)
        run.register(lean)
        lean(prog_name="optsync")
        return
    app()
