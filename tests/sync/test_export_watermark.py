"""The settled watermark: a pass reads again only what could still change behind its back.

Every pass here runs on a server clock of the test's own (UTC and the Europe/Warsaw zone),
so that late commits, the repeated autumn hour and bulk changes happen when the test says.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from export_bench import ExportBench, ServerClock

from optsync.sync.watermark import WINDOW, ServerTime, reread_from


@pytest.fixture
def bench(tmp_path):
    b = ExportBench(tmp_path)
    yield b
    b.close()


def test_a_pass_with_nothing_changed_reads_no_product(bench):
    assert bench.run().written == 40
    bench.clock.advance(minutes=15)
    step = bench.run()
    assert (step.read, step.written) == (0, 0)


def test_a_late_commit_with_an_older_stamp_inside_the_window_is_sent(bench):
    bench.run()  # the read starts at 12:00 server time
    late, too_late = bench.codes()[:2]
    # A transaction stamped its row at 11:52 and committed after that read: the next pass
    # must still send it. One that ran longer than the window is what the window excludes.
    bench.stamp(bench.clock.local - WINDOW + timedelta(minutes=2), codes=[late], name="późno")
    bench.stamp(bench.clock.local - WINDOW - timedelta(seconds=1), codes=[too_late], name="za")
    bench.clock.advance(minutes=15)
    step = bench.run()
    sent = [r["code"] for r in bench.folder_records() if r["name"] in ("późno", "za")]
    assert sent == [late]
    assert step.read == 1  # only the row stamped inside the window was read


def test_a_row_changed_in_the_repeated_autumn_hour_is_sent(tmp_path):
    # 25 October 2026, Europe/Warsaw: at 03:00 CEST the clocks go back to 02:00 CET.
    clock = ServerClock.at_local(datetime(2026, 10, 25, 2, 50), fold=0)  # 02:50 CEST
    bench = ExportBench(tmp_path, clock=clock)
    try:
        bench.run()
        clock.advance(minutes=10)  # 03:00 CEST becomes 02:00 CET
        assert clock.local == datetime(2026, 10, 25, 2, 0)
        clock.advance(minutes=5)
        code = bench.codes()[0]
        bench.stamp(clock.local, codes=[code], name="w powtórzonej godzinie")  # 02:05 CET
        clock.advance(minutes=5)
        step = bench.run()  # 02:10 CET, 20 minutes after the previous read began
        assert [r["code"] for r in bench.folder_records()
                if r["name"] == "w powtórzonej godzinie"] == [code]
        assert step.written == 1
    finally:
        bench.close()


def test_the_reread_bound_follows_the_lowest_offset_since_the_previous_pass():
    before = ServerTime(datetime(2026, 10, 25, 2, 50), datetime(2026, 10, 25, 0, 50))
    after = ServerTime(datetime(2026, 10, 25, 2, 10), datetime(2026, 10, 25, 1, 10))
    # the previous start in the lower (winter) offset, less the window
    assert reread_from(before, after) == datetime(2026, 10, 25, 1, 50) - WINDOW
    same_day = ServerTime(datetime(2026, 11, 30, 12, 15), datetime(2026, 11, 30, 11, 15))
    start = ServerTime(datetime(2026, 11, 30, 12, 0), datetime(2026, 11, 30, 11, 0))
    assert reread_from(start, same_day) == datetime(2026, 11, 30, 12, 0) - WINDOW
    # passes days apart: an offset shift there and back in between is covered by an hour
    later = ServerTime(datetime(2026, 12, 3, 12, 0), datetime(2026, 12, 3, 11, 0))
    assert reread_from(start, later) == datetime(2026, 11, 30, 11, 0) - WINDOW


def _bulk_change(bench: ExportBench, n: int, when: datetime) -> None:
    bench.stamp(when.replace(microsecond=0), name="po zmianie seryjnej")
    assert len(bench.codes()) == n


def _bulk_change_then_passes(tmp_path, n: int) -> None:
    bench = ExportBench(tmp_path, products=n)
    try:
        bench.run()
        bench.clock.advance(minutes=30)
        _bulk_change(bench, n, bench.clock.local - timedelta(minutes=20))  # one second, all rows
        bench.clock.advance(minutes=15)
        first = bench.run()
        assert (first.read, first.written) == (n, n)
        bench.clock.advance(minutes=15)
        second = bench.run()
        assert second.read < n / 100 and second.written == 0
    finally:
        bench.close()


def test_after_a_bulk_change_in_one_second_the_next_pass_reads_under_one_percent(tmp_path):
    _bulk_change_then_passes(tmp_path, 3000)


@pytest.mark.slow
def test_after_a_bulk_change_of_100_000_rows_in_one_second_the_next_pass_reads_none(tmp_path):
    _bulk_change_then_passes(tmp_path, 100_000)


def test_a_pass_right_after_a_bulk_change_is_followed_by_one_reread_sending_only_late_rows(
        tmp_path):
    n = 3000
    bench = ExportBench(tmp_path, products=n)
    try:
        bench.run()
        bench.clock.advance(minutes=30)
        change = bench.clock.local.replace(microsecond=0)
        _bulk_change(bench, n, change)
        bench.clock.advance(seconds=1)
        assert bench.run().written == n  # one second after the change
        # a transaction of the same change that committed after that read
        late = bench.codes()[7]
        bench.stamp(change, codes=[late], name="zatwierdzony później")
        bench.clock.advance(minutes=15)
        again = bench.run()  # the change is inside the window: read again, compared by hash
        assert (again.read, again.written) == (n, 1)
        assert bench.folder_records()[-1]["code"] == late
        bench.clock.advance(minutes=15)
        settled = bench.run()
        assert (settled.read, settled.written) == (0, 0)
    finally:
        bench.close()


def test_a_failed_endpoint_keeps_the_previous_mark_so_nothing_is_skipped(bench, monkeypatch):
    bench.run()
    bench.clock.advance(minutes=15)
    code = bench.codes()[3]
    bench.stamp(bench.clock.local - timedelta(minutes=1), codes=[code], name="zmiana")
    from optsync.endpoints import folder

    def refuse(self):
        raise OSError("disk full")

    monkeypatch.setattr(folder.FolderExport, "commit", refuse)
    with pytest.raises(OSError):
        bench.run()
    monkeypatch.undo()
    bench.clock.advance(hours=2)
    step = bench.run()
    assert step.written == 1 and bench.folder_records()[-1]["name"] == "zmiana"


def test_full_reads_and_sends_everything_and_documents_follow_the_same_watermark(bench):
    bench.run()
    bench.run("documents")
    bench.clock.advance(minutes=15)
    assert bench.run("documents").read == 0
    step = bench.run(full=True)
    assert (step.read, step.written) == (40, 40)
