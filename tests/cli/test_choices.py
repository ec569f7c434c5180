"""Options that take one of a few words: the words in the help, anything else exit 2 naming
the option and the words."""

from __future__ import annotations

import pytest

from optsync.cli import logs as logs_cli
from optsync.cli import schedule as schedule_cli
from optsync.errors import ExitCode
from optsync.schedule.registry import NAMES
from optsync.state import logs as store

WRONG = [
    (["logs", "--filter", "nope"], "--filter", "sync, schedule, config or all"),
    (["logs", "--level", "nope"], "--level", "debug, info, warning or error"),
    (["run", "--all", "--only", "nope"], "--only", "export or import"),
    (["run", "--all", "--entity", "products", "--entity", "nope"], "--entity",
     "products, prices, stock, customers, documents, orders or receipts"),
    (["schedule", "install", "--backend", "nope"], "--backend", "auto, cron, windows or external"),
    (["integration", "add", "--company", "Firma", "--app", "nope", "--endpoint", "x"], "--app",
     "eshop, detal, mobile or xl"),
]


@pytest.mark.parametrize(("args", "option", "words"), WRONG, ids=[w[1] for w in WRONG])
def test_a_word_not_offered_is_one_line_exit_2_naming_the_option_and_the_words(
        cli, args, option, words):
    result = cli(*args, code=ExitCode.BAD_INPUT)
    assert result.stderr.startswith(f"optsync: error: {option} 'nope' is not known. Use {words}, "
                                    f"for example {option} ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(("args", "shown"), [
    (["run"], "--only [export|import]"),
    (["logs"], "--filter [sync|schedule|config|all]"),
    (["logs"], "--level [debug|info|warning|error]"),
    (["schedule", "install"], "--backend [auto|cron|windows|external]"),
    (["integration", "add"], "--app [eshop|detal|mobile|xl]"),
])
def test_the_help_shows_the_words_an_option_takes(cli, args, shown):
    assert shown in cli(*args, "--help").stdout


def test_the_words_are_the_librarys_own():
    assert schedule_cli.BACKENDS == NAMES
    assert logs_cli.FILTERS == (*store.CATEGORIES, "all")
    assert logs_cli.LEVELS == store.LEVELS


def test_every_offered_word_is_taken(cli):
    for level in logs_cli.LEVELS:
        cli("logs", "--level", level)
    for name in logs_cli.FILTERS:
        cli("logs", "--filter", name)
