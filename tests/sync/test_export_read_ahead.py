"""A step that fails while the next batch is read ahead waits for that read before it ends."""

from __future__ import annotations

import json
import time
from typing import Any

from sync_world import COMPANY


class SlowSecondFetch:
    """A cursor whose second fetch (the one read ahead) takes a while."""

    def __init__(self, cursor: Any) -> None:
        self.cursor, self.calls, self.finished = cursor, 0, False

    def fetchmany(self, size: int) -> list:
        self.calls += 1
        if self.calls == 2:
            time.sleep(0.3)
            self.finished = True
        return self.cursor.fetchmany(size)

    def close(self) -> None:
        self.cursor.close()


def test_a_step_failing_mid_entity_ends_only_after_the_batch_read_ahead(cli, world, monkeypatch):
    from optsync.endpoints.base import Export
    from optsync.optima import reader
    from optsync.sync import engine

    monkeypatch.setattr(reader, "_reads_ahead", lambda dbapi: True)  # SQLite does not, else
    cursors: list[SlowSecondFetch] = []
    cursor = reader.RawRows._cursor

    def slow(self: reader.RawRows) -> SlowSecondFetch:
        cursors.append(SlowSecondFetch(cursor(self)))
        return cursors[-1]

    def endpoint_gone(self: Export, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the endpoint went away")

    ended: list[bool] = []
    run_export = engine.run_export

    def watched(job: Any) -> Any:
        try:
            return run_export(job)
        finally:
            ended.append(all(c.finished for c in cursors))

    monkeypatch.setattr(reader.RawRows, "_cursor", slow)
    monkeypatch.setattr(Export, "send_rows", endpoint_gone)
    monkeypatch.setattr(engine, "run_export", watched)
    result = json.loads(cli("run", "--company", COMPANY, "--only", "export", "--entity",
                            "products", "--json", code=None).stdout)
    assert [s["error"] for s in result["steps"]] == ["RuntimeError: the endpoint went away"]
    assert cursors and ended == [True]  # the step ended after the read ahead, not beside it
