"""One clock and one host name: everything optsync stamps comes from optsync.clock, which a
test replaces."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import optsync
from optsync import clock

PACKAGE = Path(optsync.__file__).parent
# Only optsync/clock.py reads the machine's clock and name; time.time() remains for the ages
# of files, which the file system's own clock stamped.
OTHER_CLOCKS = re.compile(r"datetime\.(now|utcnow|today)\(|date\.today\(|gethostname\(")


def log_records(cli, *args: str) -> list[dict]:
    """``logs --json`` writes one record a line."""
    return [json.loads(line) for line in cli("logs", *args, "--json").stdout.splitlines()]


@pytest.fixture
def frozen():
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    clock.set_now(at)
    yield at
    clock.set_now(None)


def test_nothing_but_the_clock_module_reads_the_time_or_the_machines_name():
    found = [f"{path.relative_to(PACKAGE)}:{n}"
             for path in sorted(PACKAGE.rglob("*.py")) if path.name != "clock.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OTHER_CLOCKS.search(line)]
    assert found == []


def test_a_set_time_is_now_in_utc_and_in_local_time(frozen):
    assert clock.now() == frozen and clock.now().tzinfo == UTC
    assert clock.local_now() == frozen and clock.local_now().utcoffset() is not None


def test_a_moving_source_is_asked_each_time_and_none_gives_the_real_clock_back():
    ticks = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)])
    clock.set_now(lambda: next(ticks))
    try:
        assert clock.now().day == 1 and clock.now().day == 2
    finally:
        clock.set_now(None)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_records_of_the_state_database_are_stamped_by_the_one_clock(cli, frozen):
    cli("company", "add", "Firma", "--db", "sqlite:///x.db")
    records = log_records(cli)
    assert records and {r["ts"] for r in records} == {"2026-03-02T09:30:00+00:00"}


def test_logs_since_counts_back_from_the_one_clock(cli, frozen):
    cli("company", "add", "Firma", "--db", "sqlite:///x.db")
    clock.set_now(frozen + timedelta(hours=3))
    assert log_records(cli, "--since", "2h") == []
    assert len(log_records(cli, "--since", "4h")) == 1


def test_the_host_name_is_the_machines_unless_optsync_hostname_names_another(monkeypatch):
    assert clock.hostname() == "test-host"  # tests/conftest.py sets $OPTSYNC_HOSTNAME
    monkeypatch.delenv("OPTSYNC_HOSTNAME")
    import socket

    assert clock.hostname() == socket.gethostname()
