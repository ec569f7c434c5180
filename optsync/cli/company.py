"""``optsync company``: Optima company databases."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from optsync import output
from optsync.cli import render
from optsync.cli.common import ctx_of, new_app
from optsync.cli.render import outcome as report
from optsync.errors import BadInput

app = new_app("Optima company databases.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command()
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The company's name (free text).")],
    db: Annotated[str, typer.Option("--db", help="The company's Optima database: a SQLAlchemy URL "
                                         "or an 'odbc:' connection string.")],
    config_db: Annotated[
        Optional[str], typer.Option("--config-db", help="The Optima configuration database "
                                   "that lists this company (its operators are checked there).")
    ] = None,
    description: Annotated[Optional[str], typer.Option(
        "--description", help="A note about the company, for people.")] = None,
) -> None:
    """Register a company database (it need not be reachable yet)."""
    # start-up time: loaded by this command only
    from optsync import dburl
    from optsync.services import config as manage

    manage.check_company_name(name)
    dburl.validate(db, "--db")
    if config_db:
        dburl.validate(config_db, "--config-db")
    report(manage.add_company(ctx_of(ctx).state(), name, db, config_db=config_db,
                              description=description))


@app.command()
def discover(
    ctx: typer.Context,
    config_db: Annotated[str, typer.Option("--config-db", help="The Optima configuration "
                                   "database (CDN_KNF_Konfiguracja): a SQLAlchemy URL or an 'odbc:' string.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be registered; change nothing.")] = False,
    json: JsonOpt = False,
) -> None:
    """Register every active company of an Optima configuration database."""
    # start-up time: loaded by this command only
    from optsync import dburl
    from optsync.services import config as manage

    dburl.validate(config_db, "--config-db")
    outcome = manage.discover(ctx_of(ctx).state(), config_db, dry_run=dry_run)
    if json:
        output.emit_json(outcome.data)
    else:
        render.discovered(outcome.data)
    report(outcome)


@app.command("list")
def list_(ctx: typer.Context, json: JsonOpt = False) -> None:
    """List the registered companies."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    rows = manage.companies(ctx_of(ctx).state())
    if json:
        output.emit_json(rows)
        return
    render.companies(rows)


@app.command()
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The company's name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking for confirmation.")] = False,
) -> None:
    """Remove a company with its integrations and schedule (runs and logs stay)."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    state = ctx_of(ctx).state()
    manage.company(state, name)  # unknown -> exit 2 before asking
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput(f"removing {name!r} needs confirmation", "Add --yes")
        typer.confirm(f"Remove company {name!r} with its integrations and schedule?",
                      abort=True)
    report(manage.remove_company(state, name))


@app.command()
def rename(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="The company's present name.")],
    new: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename a company; its schedule, integrations, runs and OS entries follow."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    report(manage.rename_company(ctx_of(ctx).state(), old, new))
