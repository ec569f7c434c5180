"""Bad inbound files on the folder endpoint, through real passes of the CLI: a hostile record
is rejected by name beside good ones, a file still being written is never half-filed, and the
endpoint's bookkeeping never loses what Optima holds."""

from __future__ import annotations

import json
import os
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from sync_world import COMPANY, entity_step, import_pass, manage

from optsync.endpoints import folder as folder_module
from optsync.endpoints.folder import FolderEndpoint, error_file_name

run = partial(import_pass, entity="receipts")
step_of = partial(entity_step, entity="receipts")


@pytest.fixture
def shop(world):
    """The world with a point of sale (folder endpoint) whose receipts the passes import."""
    manage.add_integration(world.state, COMPANY, "detal", str(world.folder), name="kasa",
                           export="products")
    inbox = world.folder / "in" / "receipts"
    inbox.mkdir(parents=True)
    world.inbox = inbox
    world.code = world.product_codes(1)[0]
    return world


def receipt(code: str, n: int, quantity: object = "2") -> dict:
    return {"external_id": f"PAR/{n}", "issued_at": "2026-11-29T10:00:00", "currency": "PLN",
            "lines": [{"line_no": 1, "product_code": code, "quantity": quantity,
                       "unit_price": "4.99", "price_kind": "gross"}]}


def line(record: dict) -> str:
    return json.dumps(record) + "\n"


def imported(world) -> list[str]:
    """External ids of the receipts in Optima, one entry per document."""
    with world.optima() as c:
        return sorted(r[0] for r in c.execute(
            "select TrN_NumerObcy from TraNag where TrN_ImportAppId = 'OSYNC'"))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# Poison as the raw JSON text of a line's quantity (or of a header field), and what its
# rejection says.
POISON = {
    "an exponent far out of range": ("1e99999999999999999999", "out of range"),
    "an exponent Optima cannot hold": ("1e999999", "quantity"),
    "an integer of thousands of digits": ("7" * 5000, "5,000 characters"),
    "a NaN literal": ("NaN", "NaN is not a number JSON allows"),
    "an Infinity literal": ("-Infinity", "-Infinity is not a number JSON allows"),
    "a number as text of thousands of digits": ('"' + "9" * 5000 + '"', "quantity"),
    "nesting that exhausts the parser": ("[" * 100_000 + "]" * 100_000,
                                         "nested deeper than 32 levels"),
    "nesting within the parser's reach": ("[" * 200 + "]" * 200, "nested deeper than 32 levels"),
    "an object": ('{"a": 1}', "quantity"),
    "a zero": ("0", "quantity"),
    "text in the date": ('"yesterday"', "issued_at"),
}


@pytest.mark.parametrize("poison", POISON.values(), ids=list(POISON))
def test_a_poison_record_beside_a_valid_one_is_rejected_by_name_and_the_next_pass_is_clean(
    cli, shop, poison
):
    text, reason = poison
    good = line(receipt(shop.code, 1))
    if reason == "issued_at":
        bad = line(dict(receipt(shop.code, 2), issued_at="@@")).replace('"@@"', text)
    else:
        bad = line(receipt(shop.code, 2, quantity="@@")).replace('"@@"', text)
    (shop.inbox / "a.jsonl").write_text(bad + good)

    step = step_of(run(cli, code=1))
    assert (step["status"], step["read"], step["written"], step["rejected"]) == (
        "partial", 2, 1, 1)
    assert imported(shop) == ["PAR/1"]
    assert names(shop.inbox / "failed") == ["a.jsonl", "a.jsonl.error.txt"]
    report = (shop.inbox / "failed" / "a.jsonl.error.txt").read_text("utf-8").splitlines()
    assert report[0] == "a.jsonl: 1 of 2 record(s) rejected"
    assert report[1].split(": ", 1)[0] in ("a.jsonl:1", "PAR/2 (a.jsonl:1)")
    assert reason in report[1] and len(report[1]) < 400

    again = step_of(run(cli))
    assert (again["status"], again["read"]) == ("ok", 0)


@pytest.mark.parametrize("poison", ["[" * 100_000, '{"external_id": 1e99999999999999999999}',
                                    "\ufeff{}", "NaN", b"\xff\xfe{}"],
                         ids=["deep", "exponent", "empty object", "a NaN", "not UTF-8"])
def test_a_hostile_json_file_is_a_rejected_file_beside_a_good_one(cli, shop, poison):
    (shop.inbox / "a.json").write_text(json.dumps(receipt(shop.code, 1)))
    hostile = shop.inbox / "b.json"
    hostile.write_bytes(poison if isinstance(poison, bytes) else poison.encode())

    step = step_of(run(cli, code=1))
    assert (step["read"], step["written"], step["rejected"]) == (2, 1, 1)
    assert names(shop.inbox / "done") == ["a.json"]
    assert names(shop.inbox / "failed") == ["b.json", "b.json.error.txt"]
    assert step_of(run(cli))["read"] == 0


def test_a_file_beyond_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    inbox = tmp_path / "in" / "receipts"
    inbox.mkdir(parents=True)
    with open(inbox / "huge.jsonl", "wb") as f:
        f.truncate(folder_module.MAX_FILE_BYTES + 1)  # sparse: nothing is written or read
    (offered,) = FolderEndpoint(str(tmp_path)).inbox("receipts")
    assert offered.label == "huge.jsonl" and offered.record is None
    assert offered.error is not None and "64 MiB" in offered.error


def test_conflicting_documents_with_one_external_id_are_rejected_naming_each_other(cli, shop):
    first = receipt(shop.code, 1)
    changed = receipt(shop.code, 1, quantity="3")
    other = receipt(shop.code, 2)
    twin = receipt(shop.code, 3)
    (shop.inbox / "a.jsonl").write_text(
        line(first) + line(other) + line(changed) + line(twin) + line(twin))

    step = step_of(run(cli, code=1))
    # PAR/3 twice, identical: imported once, the later found already imported
    assert (step["read"], step["written"], step["unchanged"], step["rejected"]) == (5, 2, 1, 2)
    assert imported(shop) == ["PAR/2", "PAR/3"]
    report = (shop.inbox / "failed" / "a.jsonl.error.txt").read_text("utf-8").splitlines()
    assert report[0] == "a.jsonl: 2 of 5 record(s) rejected"
    assert report[1].startswith("PAR/1 (a.jsonl:1): external_id 'PAR/1' is also at a.jsonl:3 ")
    assert report[2].startswith("PAR/1 (a.jsonl:3): external_id 'PAR/1' is also at a.jsonl:1 ")
    assert "different content" in report[1]


def test_a_file_appended_to_over_five_passes_imports_every_record_exactly_once(cli, shop):
    """Each pass finds the file mid-write: whole records, then a last line cut short."""
    path = shop.inbox / "sales.jsonl"
    written = 0
    for _ in range(5):
        chunk = "".join(line(receipt(shop.code, written + i + 1)) for i in range(3))
        cut = line(receipt(shop.code, written + 4))
        with open(path, "a", encoding="utf-8") as f:
            f.write(chunk + cut[: len(cut) // 2])  # stops mid-line
        written += 3
        result = run(cli)
        assert step_of(result)["status"] == "ok" and step_of(result)["rejected"] == 0
        assert path.exists() and names(shop.inbox / "done") == []  # never filed half-read
        assert imported(shop) == sorted(f"PAR/{n}" for n in range(1, written + 1))
        with open(path, "a", encoding="utf-8") as f:
            f.write(cut[len(cut) // 2:])  # the writer finishes the line
        written += 1
    final = step_of(run(cli))
    assert final["status"] == "ok" and final["written"] == 1
    assert imported(shop) == sorted(f"PAR/{n}" for n in range(1, written + 1))
    assert names(shop.inbox) == ["done"] and names(shop.inbox / "done") == ["sales.jsonl"]
    assert step_of(run(cli))["read"] == 0


def test_a_file_appended_to_during_a_pass_stays_and_its_new_records_come_next_pass(
    cli, shop, monkeypatch
):
    path = shop.inbox / "sales.jsonl"
    path.write_text(line(receipt(shop.code, 1)) + line(receipt(shop.code, 2)))
    real = FolderEndpoint._parse_lines

    def read_while_the_writer_appends(self, entity, state, data):
        with open(state.path, "a", encoding="utf-8") as f:  # after the read, before the move
            f.write(line(receipt(shop.code, 3)))
        return real(self, entity, state, data)

    monkeypatch.setattr(FolderEndpoint, "_parse_lines", read_while_the_writer_appends)
    first = step_of(run(cli))
    assert (first["read"], first["written"]) == (2, 2)
    assert path.exists() and imported(shop) == ["PAR/1", "PAR/2"]
    monkeypatch.setattr(FolderEndpoint, "_parse_lines", real)

    second = step_of(run(cli))
    assert (second["read"], second["written"], second["unchanged"]) == (3, 1, 2)
    assert imported(shop) == ["PAR/1", "PAR/2", "PAR/3"]
    assert names(shop.inbox / "done") == ["sales.jsonl"]


def test_a_writer_thread_appending_through_many_passes_loses_and_doubles_nothing(cli, shop):
    path = shop.inbox / "sales.jsonl"
    total = 120

    def writer() -> None:
        with open(path, "a", encoding="utf-8") as f:
            for n in range(1, total + 1):
                text = line(receipt(shop.code, n))
                f.write(text[:20])  # a line arrives in two writes
                f.flush()
                time.sleep(0.001)
                f.write(text[20:])
                f.flush()
                time.sleep(0.004)

    path.touch()
    thread = threading.Thread(target=writer)
    thread.start()
    passes = 0
    while thread.is_alive() or passes < 5:
        result = run(cli)
        assert step_of(result)["status"] == "ok" and step_of(result)["rejected"] == 0
        passes += 1
    thread.join()
    run(cli)
    assert imported(shop) == sorted(f"PAR/{n}" for n in range(1, total + 1))
    assert names(shop.inbox / "done") == ["sales.jsonl"]


def test_a_last_line_without_its_end_waits_and_is_rejected_only_once_abandoned(cli, shop):
    path = shop.inbox / "sales.jsonl"
    path.write_text(line(receipt(shop.code, 1)) + '{"external_id": "PAR/2", "li')
    assert step_of(run(cli))["written"] == 1
    assert path.exists()  # waits for the rest of its last line

    an_hour_ago = time.time() - folder_module.PARTIAL_LINE_WAIT - 60
    os.utime(path, (an_hour_ago, an_hour_ago))
    step = step_of(run(cli, code=1))
    assert (step["read"], step["unchanged"], step["rejected"]) == (2, 1, 1)
    report = (shop.inbox / "failed" / "sales.jsonl.error.txt").read_text("utf-8")
    assert "sales.jsonl:2: invalid JSON" in report
    assert imported(shop) == ["PAR/1"]


def test_a_complete_last_record_without_a_newline_is_imported(cli, shop):
    (shop.inbox / "sales.jsonl").write_text(line(receipt(shop.code, 1)).rstrip("\n"))
    assert step_of(run(cli))["written"] == 1
    assert names(shop.inbox / "done") == ["sales.jsonl"]


def test_a_rejected_file_with_a_250_character_name_gets_a_shortened_error_file(cli, shop):
    name = "z" * 244 + ".jsonl"
    assert len(name) == 250
    (shop.inbox / name).write_text(
        line(receipt(shop.code, 1)) + line(receipt("NIE-MA-TAKIEGO", 2)))

    step = step_of(run(cli, code=1))
    assert (step["status"], step["written"], step["rejected"]) == ("partial", 1, 1)
    failed = shop.inbox / "failed"
    error_name = error_file_name(name)
    assert names(failed) == sorted([name, error_name])
    assert len(error_name.encode()) <= 255 and error_name.endswith(".error.txt")
    report = (failed / error_name).read_text("utf-8").splitlines()
    assert report[0] == f"{name}: 1 of 2 record(s) rejected"
    assert "NIE-MA-TAKIEGO" in report[1]
    assert step_of(run(cli))["read"] == 0


def test_error_file_names_fit_255_bytes_and_stay_distinct():
    assert error_file_name("a.jsonl") == "a.jsonl.error.txt"
    long_a, long_b = "ż" * 120 + "a.jsonl", "ż" * 120 + "b.jsonl"  # 247 bytes each
    short_a, short_b = error_file_name(long_a), error_file_name(long_b)
    assert short_a != short_b
    assert all(len(n.encode()) <= 255 and n.endswith(".error.txt") for n in (short_a, short_b))
    assert short_a.startswith("ż" * 100)


@pytest.mark.parametrize("blocked", ["done", "failed"])
def test_a_done_or_failed_that_is_a_file_fails_the_step_and_keeps_the_counts(
    cli, shop, blocked
):
    (shop.inbox / blocked).write_text("not a folder")
    records = [receipt(shop.code, 1)]
    if blocked == "failed":
        records.append(receipt("NIE-MA-TAKIEGO", 2))
    (shop.inbox / "a.jsonl").write_text("".join(line(r) for r in records))

    step = step_of(run(cli, code=1))
    assert step["status"] == "failed" and step["written"] == 1
    assert f"{blocked}: a file, not a folder" in step["error"] and "a.jsonl" in step["error"]
    assert imported(shop) == ["PAR/1"] and (shop.inbox / "a.jsonl").exists()

    (shop.inbox / blocked).unlink()
    again = step_of(run(cli, code=1 if blocked == "failed" else 0))
    assert (again["written"], again["unchanged"]) == (0, 1)  # recognised, not imported twice
    assert imported(shop) == ["PAR/1"]
    assert "a.jsonl" in names(shop.inbox / blocked)


def test_rows_of_one_customer_in_a_file_are_not_twins_the_latest_is_considered(cli, shop):
    customers = shop.folder / "in" / "customers"
    customers.mkdir(parents=True)
    rows = [{"external_id": "K-1", "name": "Sklep Pod Lipą", "tax_id": "5252248481",
             "city": "Kraków"},
            {"external_id": "K-1", "name": "Sklep Pod Lipą s.c.", "tax_id": "5252248481",
             "city": "Kraków"}]
    (customers / "a.jsonl").write_text("".join(line(r) for r in rows))

    result = cli("run", "--company", COMPANY, "--only", "import", "--entity", "customers",
                 "--json")
    (step,) = [s for s in json.loads(result.stdout)["steps"] if s["integration"] == "kasa"]
    assert (step["read"], step["rejected"], step["status"]) == (2, 0, "ok")
    with shop.optima() as c:
        names = [r[0] for r in c.execute(
            "select Knt_Nazwa1 from Kontrahenci where Knt_Nip like '525%2248481'")]
    assert names == ["Sklep Pod Lipą s.c."]
    assert (customers / "done" / "a.jsonl").exists()


def test_an_endpoint_failing_mid_read_fails_the_step_but_counts_what_came_before(
    cli, shop, monkeypatch
):
    (shop.inbox / "a.jsonl").write_text(line(receipt(shop.code, 1)))
    (shop.inbox / "b.jsonl").write_text(line(receipt(shop.code, 2)))
    real = FolderEndpoint._read

    def share_lost_at_b(self, entity, state):
        if state.path.name == "b.jsonl":
            raise OSError(112, "Host is down", str(state.path))
        return real(self, entity, state)

    monkeypatch.setattr(FolderEndpoint, "_read", share_lost_at_b)
    step = step_of(run(cli, code=1))
    assert (step["status"], step["read"], step["written"]) == ("failed", 1, 1)
    assert "Host is down" in step["error"]
    assert names(shop.inbox / "done") == ["a.jsonl"]  # what was done is filed

    monkeypatch.setattr(FolderEndpoint, "_read", real)
    again = step_of(run(cli))
    assert (again["read"], again["written"]) == (1, 1)
    assert imported(shop) == ["PAR/1", "PAR/2"]
