"""``optsync integration``: the integrated applications of a company."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from optsync import output
from optsync.apps import APPS
from optsync.cli import render
from optsync.cli.common import choice, ctx_of, new_app
from optsync.cli.render import outcome as report
from optsync.errors import BadInput

app = new_app("Integrated applications of a company: eshop, xl, detal, mobile.")


@app.command()
def add(
    ctx: typer.Context,
    company: Annotated[str, typer.Option("--company", help="The company's name.")],
    app_: Annotated[str, choice(
        "--app", tuple(APPS), "eshop",
        help="The application: eshop (e-Sklep or wszystko.pl shop), xl (Comarch ERP "
        "XL), detal (Optima Detal tills) or mobile (Comarch ERP Mobile).")],
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="Where the application meets optsync: a database "
                          "URL or 'odbc:' string (exchange tables in that database), or a "
                          "folder or file:// URL (JSON files).")
    ],
    name: Annotated[Optional[str], typer.Option(
        "--name", help="A name for this integration [default: the application's].")] = None,
    export: Annotated[Optional[str], typer.Option(
        "--export", help="What Optima sends to the application, comma-separated: products, "
        "prices, stock, customers, documents [default: the application's].")] = None,
    import_: Annotated[Optional[str], typer.Option(
        "--import", help="What the application sends into Optima, comma-separated: customers, "
        "orders, receipts, products, prices [default: the application's].")] = None,
    price_list: Annotated[
        Optional[int], typer.Option("--price-list", help="Send only this price list: its number (Lp) in "
                     "Optima's price list definitions [default: every active price list].")
    ] = None,
    warehouse: Annotated[
        Optional[str], typer.Option("--warehouse", help="The symbol of an Optima warehouse: only its stock "
                     "is sent, and imported documents are issued from it [default: every "
                     "warehouse's stock; documents from the first active warehouse].")
    ] = None,
) -> None:
    """Add an integrated application to a company, with its default exports and imports."""
    # start-up time: loaded by this command only
    from optsync import dburl
    from optsync.apps import EXPORT_ENTITIES, IMPORT_ENTITIES, parse_entities
    from optsync.names import check_name
    from optsync.services import config as manage

    state = ctx_of(ctx).state()
    manage.company(state, company)  # an unknown company is named first
    parse_entities(export, EXPORT_ENTITIES, "--export")
    parse_entities(import_, IMPORT_ENTITIES, "--import")
    if price_list is not None and price_list < 1:
        raise BadInput(
            f"--price-list {price_list} is not an Optima price number",
            "Use the DfC_Lp of a price list, for example --price-list 1",
        )
    if warehouse is not None and not warehouse.strip():
        raise BadInput("--warehouse is empty", "Give a Mag_Symbol, for example --warehouse MAG")
    check_name(app_ if name is None else name, "--name", "--name eshop")
    if not endpoint.strip():
        raise BadInput("--endpoint is empty", "Use a database URL or a folder path")
    dburl.validate(endpoint, "--endpoint", paths_ok=True)  # a folder path is fine too
    report(manage.add_integration(
        state, company, app_, endpoint, name=name, export=export,
        import_=import_, price_list=price_list, warehouse=warehouse,
    ))


@app.command("list")
def list_(
    ctx: typer.Context,
    company: Annotated[Optional[str], typer.Option(
        "--company", help="Only this company's integrations (its name).")] = None,
    json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """List integrations."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    items = manage.integrations(ctx_of(ctx).state(), company)
    if json:
        output.emit_json([i.as_json() for i in items])
        return
    render.integrations(items)


@app.command()
def remove(
    ctx: typer.Context,
    integration: Annotated[str, typer.Argument(help="The integration's name.")],
    company: Annotated[str, typer.Option("--company", help="The company's name.")],
) -> None:
    """Remove an integration and its sync state."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    report(manage.remove_integration(ctx_of(ctx).state(), company, integration))


@app.command()
def rename(
    ctx: typer.Context,
    company: Annotated[str, typer.Option("--company", help="The company's name.")],
    old: Annotated[str, typer.Argument(help="The integration's present name.")],
    new: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename an integration; its settings and sync state stay."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    report(manage.rename_integration(ctx_of(ctx).state(), company, old, new))
