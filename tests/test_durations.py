"""One grammar for lengths of time: --every, --wait, logs --since and logs prune --older-than."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optsync.cli.logs import parse_since
from optsync.durations import duration, parse_age, parse_minutes, parse_seconds
from optsync.errors import BadInput, ExitCode
from optsync.schedule.model import parse_every


@pytest.mark.parametrize(("text", "length"), [
    ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)), ("1h30m", timedelta(minutes=90)),
    ("90d", timedelta(days=90)), ("12w", timedelta(weeks=12)), ("48H", timedelta(hours=48)),
    (" 2d 12h ", timedelta(days=2, hours=12)), ("45s", timedelta(seconds=45)),
])
def test_a_duration_is_numbers_each_with_a_unit(text, length):
    assert duration(text) == length


@pytest.mark.parametrize("text", ["", "90", "d", "1.5h", "-3d", "3 days", "1y", "h1"])
def test_without_a_plain_unit_a_bare_number_or_anything_else_is_no_duration(text):
    assert duration(text) is None


def test_a_plain_number_is_read_in_the_unit_the_option_gives():
    assert duration("90", plain="m") == timedelta(minutes=90)
    assert duration("2.5", plain="s") == timedelta(seconds=2.5)


@pytest.mark.parametrize(("text", "minutes"), [
    ("15m", 15), ("1h", 60), ("90m", 90), ("1h30m", 90), ("90", 90), ("24h", 1440), ("120s", 2),
])
def test_every_takes_the_grammar_from_one_minute_to_a_day(text, minutes):
    assert parse_every(text) == minutes


@pytest.mark.parametrize("text", ["0", "0m", "25h", "1441", "30s", "soon", "1.5"])
def test_every_outside_a_minute_to_a_day_names_the_option_and_the_range(text):
    with pytest.raises(BadInput) as caught:
        parse_every(text)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert caught.value.message.startswith(f"--every {text!r} is not a frequency from 1 minute")
    assert "--every 15m" in caught.value.message


def test_minutes_name_the_option_they_came_from():
    with pytest.raises(BadInput, match="^the interval 'x' is not a frequency"):
        parse_minutes("x", "the interval", 1, 1440, "a frequency")


def test_an_age_needs_a_unit_and_names_its_option():
    assert parse_age("90d", "--older-than") == timedelta(days=90)
    with pytest.raises(BadInput, match=r"^--older-than '90' is not a duration\. .*--older-than 90d"):
        parse_age("90", "--older-than")


def test_since_is_an_age_before_now_or_an_iso_date():
    before = datetime.now(UTC)
    since = parse_since("2h")
    assert before - timedelta(hours=2, seconds=5) < since <= datetime.now(UTC) - timedelta(hours=2)
    assert parse_since("2026-11-29T10:00+00:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    with pytest.raises(BadInput, match="^--since 'yesterday' is neither a duration"):
        parse_since("yesterday")


def test_wait_is_seconds_or_a_duration_and_never_negative():
    assert parse_seconds("60", "--wait") == 60
    assert parse_seconds("0.5", "--wait") == 0.5
    assert parse_seconds("2m", "--wait") == 120
    for text in ("-5", "soon"):
        with pytest.raises(BadInput, match=f"^--wait '{text}' is not a length of time"):
            parse_seconds(text, "--wait")
