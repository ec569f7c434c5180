"""The cron planner fires at exactly the schedule's start times, in few lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optsync.schedule.model import Schedule, parse_days
from optsync.schedule.planner import CronSpec, cron_fire_times, plan_cron

MINUTE = st.integers(min_value=0, max_value=1439)
EVERY = st.one_of(
    st.sampled_from([1, 5, 15, 25, 30, 45, 60, 90, 120, 180, 360, 720, 1440]),
    st.integers(min_value=1, max_value=1440),
)
DAYS = st.frozensets(st.integers(min_value=0, max_value=6), min_size=1)


@settings(max_examples=300, deadline=None)
@given(start=MINUTE, end=MINUTE, every=EVERY, days=DAYS)
def test_cron_lines_fire_at_exactly_the_schedules_start_times(start, end, every, days):
    schedule = Schedule(start=start, end=end, every=every, days=days)
    assert cron_fire_times(plan_cron(schedule)) == schedule.week_starts()


@settings(max_examples=100, deadline=None)
@given(start=MINUTE, end=MINUTE, every=EVERY, days=DAYS)
def test_plan_needs_at_most_26_lines(start, end, every, days):
    schedule = Schedule(start=start, end=end, every=every, days=days)
    # A window (< 24 h) touches each clock hour once, except possibly the hour it starts in,
    # which it may touch again the next day. A hour touched once needs at most one line;
    # the shared hour at most three (its own days, the following days, both): 23 + 3.
    assert len(plan_cron(schedule)) <= 26


def lines(schedule: Schedule) -> list[str]:
    return [str(spec) for spec in plan_cron(schedule)]


def test_quarter_hours_from_8_to_18_include_18_00():
    schedule = Schedule(start=8 * 60, end=18 * 60, every=15)
    assert lines(schedule) == ["*/15 8-17 * * *", "0 18 * * *"]


def test_weekdays_map_to_cron_numbers_from_sunday():
    schedule = Schedule(start=8 * 60, end=18 * 60, every=15, days=parse_days("mon-fri"))
    assert lines(schedule) == ["*/15 8-17 * * 1-5", "0 18 * * 1-5"]


def test_every_25_minutes_from_08_10_to_17_50_repeats_every_five_hours():
    schedule = Schedule(start=8 * 60 + 10, end=17 * 60 + 50, every=25)
    assert lines(schedule) == [
        "10,35 8,13 * * *",
        "*/25 9,14 * * *",
        "15,40 10,15 * * *",
        "5,30,55 11,16 * * *",
        "20,45 12,17 * * *",
    ]
    assert cron_fire_times(plan_cron(schedule)) == schedule.week_starts()


def test_window_past_midnight_fires_after_midnight_on_the_next_weekday():
    schedule = Schedule(start=22 * 60, end=2 * 60, every=45, days=parse_days("sat-sun"))
    assert sorted(lines(schedule)) == sorted(
        [
            "0,45 22 * * 0,6",  # Saturday and Sunday evenings
            "30 23 * * 0,6",
            "15 0 * * 0,1",  # the small hours of Sunday and Monday
            "0,45 1 * * 0,1",
        ]
    )
    assert cron_fire_times(plan_cron(schedule)) == schedule.week_starts()


def test_every_24_hours_is_one_start_a_day():
    assert lines(Schedule(start=6 * 60 + 30, every=1440)) == ["30 6 * * *"]


def test_every_minute_all_day_is_a_single_star_line():
    assert lines(Schedule(every=1)) == ["* * * * *"]


def test_equal_from_and_to_is_one_start():
    schedule = Schedule(start=12 * 60, end=12 * 60, every=15, days=frozenset({2}))
    assert lines(schedule) == ["0 12 * * 3"]


def test_disabled_schedule_plans_no_lines():
    assert plan_cron(Schedule(enabled=False)) == []


def test_cron_spec_prints_its_five_fields():
    assert str(CronSpec("0", "8-17", "*", "*", "1-5")) == "0 8-17 * * 1-5"


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*/20 0 * * 7", {6 * 1440, 6 * 1440 + 20, 6 * 1440 + 40}),  # 7 is Sunday too
        ("5-7 0 * * 1", {5, 6, 7}),
        ("0-30/15 0 * * 1", {0, 15, 30}),
        ("1,3 0 * * 2", {1440 + 1, 1440 + 3}),
    ],
)
def test_fire_time_evaluator_reads_lists_ranges_and_steps(field, expected):
    assert cron_fire_times([CronSpec(*field.split())]) == expected


def test_fire_time_evaluator_refuses_day_of_month_fields():
    with pytest.raises(ValueError):
        cron_fire_times([CronSpec("0", "0", "1", "*", "*")])
