"""Commands for messages: the optsync command line that fixes a problem, quoted for a shell."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from optsync.home import is_default_home
from optsync.state.db import State


def hint(state: State, *args: str) -> str:
    """A quoted optsync command line for a message, with ``--home`` when a shell needs it."""
    argv = ["optsync"]
    env_home = os.environ.get("OPTSYNC_HOME")
    if not is_default_home(state.home) and not (
        env_home and Path(env_home).expanduser().absolute() == state.home
    ):
        argv += ["--home", str(state.home)]
    text = shlex.join([*argv, *args])
    return f'"{text}"' if "'" in text else f"'{text}'"
