"""``optsync operator``: the Optima operator the automat acts as."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from optsync import output
from optsync.cli import render
from optsync.cli.common import ctx_of, new_app
from optsync.cli.render import outcome as report
from optsync.errors import BadInput

app = new_app("The Optima operator the automat acts as.")


@app.command("set")
def set_(
    ctx: typer.Context,
    acronym: Annotated[str, typer.Argument(help="The operator's acronym in Optima.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of "
                                   "stdin (it is never an argument).")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="The operator logs in without a password.")
    ] = False,
) -> None:
    """Store the operator's acronym and password (encrypted)."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    if password_stdin and no_password:
        raise BadInput(
            "--password-stdin and --no-password exclude each other", "Give only one of them"
        )
    if no_password:
        password = None
    elif password_stdin:
        password = _password_from_stdin()
        if not password:
            raise BadInput("no password on stdin", "Pipe it in, e.g. printf %s \"$PW\" | "
                           "optsync operator set ADMIN --password-stdin")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise BadInput(
            "no terminal to ask for the password",
            "Use --password-stdin to read it from stdin, or --no-password",
        )
    report(manage.set_operator(ctx_of(ctx).state(), acronym, password))


def _password_from_stdin() -> str:
    """The first line of stdin as UTF-8 text (exit 2 when it is not UTF-8)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes (tests, embedding)
        return sys.stdin.readline().rstrip("\r\n")
    raw = stream.readline().rstrip(b"\r\n")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise BadInput(
            "the password on stdin is not UTF-8 text",
            "Pipe it in as UTF-8, e.g. through 'iconv -f CP1250 -t UTF-8'",
        ) from None


@app.command()
def show(
    ctx: typer.Context,
    json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show the operator (never the password)."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    op = manage.operator(ctx_of(ctx).state())
    if json:
        output.emit_json(op)
        return
    render.operator(op)


@app.command()
def remove(ctx: typer.Context) -> None:
    """Forget the operator."""
    from optsync.services import config as manage  # start-up time: loaded by this command only

    report(manage.remove_operator(ctx_of(ctx).state()))
