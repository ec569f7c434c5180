"""The folder endpoint's own defences against bad inbox files, without a pass around it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from optsync.endpoints import folder as folder_module
from optsync.endpoints.folder import FolderEndpoint


def order(n: int, quantity: object = "1") -> dict:
    return {"external_id": f"WWW-{n}", "lines": [{"product_code": "A", "quantity": quantity}]}


def inbox(root: Path) -> Path:
    folder = root / "in" / "orders"
    folder.mkdir(parents=True)
    return folder


def offer_and_file(root: Path, reject: str | None = None) -> list:
    """One pass of the endpoint alone: every record marked imported (or ``reject``ed)."""
    endpoint = FolderEndpoint(str(root))
    offered = list(endpoint.inbox("orders"))
    for inbound in offered:
        if inbound.error is None:
            bad = reject is not None and inbound.label.startswith(reject)
            endpoint.mark("orders", inbound, status="rejected" if bad else "imported",
                          error="refused" if bad else None)
    endpoint.finish_inbox("orders")
    return offered


def test_a_fifo_put_in_a_files_place_is_skipped_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = inbox(tmp_path)
    (folder / "a.json").write_text(json.dumps(order(1)))
    endpoint = FolderEndpoint(str(tmp_path))
    real = FolderEndpoint._read

    def swapped(self, entity, state):
        state.path.unlink()
        os.mkfifo(state.path)  # the application put a pipe there after the listing
        return real(self, entity, state)

    monkeypatch.setattr(FolderEndpoint, "_read", swapped)
    assert list(endpoint.inbox("orders")) == []
    endpoint.finish_inbox("orders")
    assert (folder / "a.json").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_filed_in_failed_once(tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    (folder / "a.json").write_text(json.dumps(order(1)))
    (folder / "a.json").chmod(0)
    (offered,) = offer_and_file(tmp_path)
    assert offered.error is not None and offered.error.startswith("cannot read the file")
    assert (folder / "failed" / "a.json").exists()


def test_an_error_file_name_the_file_system_refuses_falls_back_to_a_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = inbox(tmp_path)
    name = "x" * 244 + ".jsonl"
    (folder / name).write_text(json.dumps(order(1)) + "\n")
    monkeypatch.setattr(folder_module, "NAME_MAX", 400)  # as if the limit were unknown
    offer_and_file(tmp_path, reject="WWW-1")
    failed = sorted(p.name for p in (folder / "failed").iterdir())
    assert len(failed) == 2 and name in failed
    (error_name,) = [n for n in failed if n != name]
    assert len(error_name) == 16 + len(".error.txt") and error_name.endswith(".error.txt")
    assert (folder / "failed" / error_name).read_text("utf-8").startswith(f"{name}: 1 of 1")


def test_twins_in_a_json_array_are_compared_like_lines(tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    (folder / "a.json").write_text(json.dumps([order(1), order(1, "2"), order(2), order(2)]))
    offered = list(FolderEndpoint(str(tmp_path)).inbox("orders"))
    assert [(i.label, i.error is None) for i in offered] == [
        ("WWW-1 (a.json[1])", False), ("WWW-1 (a.json[2])", False),
        ("WWW-2 (a.json[3])", True), ("WWW-2 (a.json[4])", True),
    ]
    assert "also at a.json[2]" in (offered[0].error or "")
    assert "also at a.json[1]" in (offered[1].error or "")


def test_records_are_read_up_to_the_size_the_file_had_when_its_read_began(
    tmp_path: Path,
) -> None:
    folder = inbox(tmp_path)
    path = folder / "a.jsonl"
    path.write_text(json.dumps(order(1)) + "\n")
    endpoint = FolderEndpoint(str(tmp_path))
    records = endpoint.inbox("orders")
    first = next(records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(order(2)) + "\n")
    assert list(records) == []  # the appended record waits for the next pass
    endpoint.mark("orders", first, status="imported")
    endpoint.finish_inbox("orders")
    assert path.exists()  # changed since its read began: not filed
    assert [i.label for i in offer_and_file(tmp_path)] == ["WWW-1 (a.jsonl:1)",
                                                          "WWW-2 (a.jsonl:2)"]
    assert (folder / "done" / "a.jsonl").exists()


def test_a_long_text_in_a_field_gives_a_short_reason(tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    (folder / "a.json").write_text(json.dumps(order(1, "x" * 1_000_000)))
    (offered,) = FolderEndpoint(str(tmp_path)).inbox("orders")
    assert offered.error is not None and len(offered.error) < 120
    assert offered.error.startswith("line 1: quantity: expected a decimal number, got 'xxx")


def test_an_empty_file_waits_for_its_writer_and_is_filed_once_abandoned(tmp_path: Path) -> None:
    folder = inbox(tmp_path)
    (folder / "a.jsonl").touch()
    assert offer_and_file(tmp_path) == []
    assert (folder / "a.jsonl").exists()  # created, not yet written: left to its writer
    an_hour_ago = os.path.getmtime(folder / "a.jsonl") - folder_module.PARTIAL_LINE_WAIT - 60
    os.utime(folder / "a.jsonl", (an_hour_ago, an_hour_ago))
    assert offer_and_file(tmp_path) == []
    assert (folder / "done" / "a.jsonl").exists()
