"""What every command shares: the context, the state, error translation."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer
from typer.core import TyperGroup

from optsync import output
from optsync.errors import BadInput, ExitCode, OptsyncError
from optsync.secrets import exception_text

# Typer vendors its own click: take its exception classes from Typer itself, and let them
# (usage errors, --help, Exit) through to Typer's own handling.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_PASS_THROUGH = (typer.Exit, typer.Abort, _CLICK_ERROR)


class _Words:
    """Reads the value of an option that takes one of a few fixed words."""

    def __init__(self, option: str, words: tuple[str, ...], example: str) -> None:
        self.option, self.words, self.example = option, words, example

    def __call__(self, value: str) -> str:
        if value in self.words:
            return value
        raise BadInput(f"{self.option} {value!r} is not known",
                       f"Use {', '.join(self.words[:-1])} or {self.words[-1]}, for example "
                       f"{self.option} {self.example}")


def choice(option: str, words: tuple[str, ...] | list[str], example: str, help: str,
           **more):
    """The ``typer.Option`` of an option that takes one of ``words``: its help shows them
    (``[export|import]``, unless ``metavar`` names them), and another word is the usual
    one-line error (exit 2) naming the option, the words and an example. (Typer brings its
    own copy of Click, so a Click type from the ``click`` package would lose its words in
    the help.)"""
    words = tuple(words)
    more.setdefault("metavar", f"[{'|'.join(words)}]")
    return typer.Option(option, parser=_Words(option, words, example), help=help, **more)


@dataclass
class Ctx:
    home: Path
    debug: bool = False
    _state: object = field(default=None, repr=False)

    def state(self, *, create: bool = True):
        from optsync.state.db import State  # start-up time: loaded by this command only

        if self._state is None:
            self._state = State(self.home, create=create)
        return self._state

    def close(self) -> None:
        """Close the state database: SQLite then folds its journal back into the file."""
        if self._state is not None:
            self._state.dispose()  # type: ignore[attr-defined]
            self._state = None


def ctx_of(ctx: typer.Context) -> Ctx:
    root = ctx.find_root()
    if not isinstance(root.obj, Ctx):
        from optsync.home import resolve_home  # start-up time: loaded by this command only

        root.obj = Ctx(home=resolve_home(None), debug=_debug_env())
    return root.obj


def _debug_env() -> bool:
    return os.environ.get("OPTSYNC_DEBUG", "") not in ("", "0")


class OptsyncGroup(TyperGroup):
    """Turns domain errors into one line and the documented exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except OptsyncError as exc:
            if _wants_debug(ctx):
                raise
            sys.stderr.write(output.error_line(exc.message) + "\n")
            raise typer.Exit(int(exc.exit_code)) from None
        except _CLICK_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError" or exc.exit_code != 2:
                raise
            # A usage error inside a command: the same one line as every other error.
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "optsync"
            sys.stderr.write(output.error_line(
                f"{exc.format_message().rstrip('.')}. Run '{where} --help' for usage.") + "\n")
            raise typer.Exit(int(ExitCode.BAD_INPUT)) from None
        except _PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            sys.stderr.write("optsync: error: interrupted.\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:
            if _wants_debug(ctx):
                raise
            known = known_fault(exc)
            if known is not None:
                sys.stderr.write(output.error_line(known.message) + "\n")
                raise typer.Exit(int(known.exit_code)) from None
            sys.stderr.write(
                output.error_line(
                    f"unexpected {exception_text(exc)}. "
                    "Run again with --debug for the traceback, and report it"
                )
                + "\n"
            )
            raise typer.Exit(int(ExitCode.FAILED)) from None


def known_fault(exc: BaseException) -> OptsyncError | None:
    """The one-line error for a fault of the machine that reached the top (a full disk, a
    file this user may not write, a folder where a file belongs), or None."""
    from optsync.errors import os_fault  # start-up time: loaded by this command only

    for cause in (exc, getattr(exc, "orig", None), exc.__cause__, exc.__context__):
        if isinstance(cause, OSError) and cause.errno is not None:
            fault = os_fault(cause)
            if fault is not None:
                return fault
    return None


def _wants_debug(ctx: typer.Context) -> bool:
    obj = ctx.find_root().obj
    return bool(getattr(obj, "debug", False)) or _debug_env()


def new_app(help_text: str, **kwargs) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=OptsyncGroup,
        no_args_is_help=kwargs.pop("no_args_is_help", True),
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
        **kwargs,
    )
