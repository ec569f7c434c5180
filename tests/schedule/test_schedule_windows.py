"""The Windows backend writes one UTF-16 Task XML per company and drives schtasks."""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_helpers import GOLDEN, FakeSchtasks, check_golden

from optsync.errors import BadInput, OptsyncError
from optsync.schedule.backend import Entry
from optsync.schedule.model import MINUTES_PER_DAY, MINUTES_PER_WEEK, Schedule, parse_days
from optsync.schedule.windows import NS, WindowsBackend, iso_duration, task_name, task_xml

ID = "home1"
EXE = "C:\\Program Files\\optsync\\optsync.exe"
HOME = "C:\\ProgramData\\optsync data"
USER = "EXAMPLE\\optsync"


def win_entry(key: str, name: str, schedule: Schedule) -> Entry:
    return Entry(
        company_key=key,
        company_name=name,
        schedule=schedule,
        argv=[EXE, "--home", HOME, "run", "--company-key", key, "--scheduled"],
        log_path=None,
        workdir=Path(HOME),
    )


CASES = {
    "all-days-hourly": win_entry("1", "Demo Sp. z o.o.", Schedule(start=0, end=1439, every=60)),
    "mon-fri-quarter-hours": win_entry(
        "2", "Hurtownia Łódź", Schedule(start=480, end=1080, every=15, days=parse_days("mon-fri"))
    ),
    "past-midnight-sat-sun": win_entry(
        "3",
        '100% Zdrowia "Żytnia" Sp. z o.o.',
        Schedule(start=22 * 60, end=2 * 60, every=45, days=parse_days("sat-sun")),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_task_xml_and_schtasks_command_lines_match_golden_files(
    case: str, schtasks: FakeSchtasks, tmp_path: Path
):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    assert backend.install([CASES[case]], ID) is True
    (name,) = schtasks.written
    check_golden(GOLDEN / f"windows-{case}.xml", schtasks.written[name])
    # As Windows would see them: each argument quoted by list2cmdline's rules.
    calls = "\n".join(
        subprocess.list2cmdline(arg.replace(str(tmp_path), "<TMP>") for arg in call)
        for call in schtasks.calls
    )
    check_golden(GOLDEN / f"windows-{case}.cmd.txt", (calls + "\n").encode())


def test_run_as_task_xml_and_schtasks_command_lines_match_golden_files(
    schtasks: FakeSchtasks, tmp_path: Path
):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, run_as="FIRMA\\sync",
                             password="<password>")
    backend.install([CASES["mon-fri-quarter-hours"]], ID)
    (data,) = schtasks.written.values()
    check_golden(GOLDEN / "windows-run-as.xml", data)
    calls = "\n".join(
        subprocess.list2cmdline(arg.replace(str(tmp_path), "<TMP>") for arg in call)
        for call in schtasks.calls
    )
    check_golden(GOLDEN / "windows-run-as.cmd.txt", (calls + "\n").encode())


def test_task_xml_is_utf16_with_a_bom_and_names_the_task_scheduler_namespace(
    schtasks: FakeSchtasks, tmp_path: Path
):
    WindowsBackend(schtasks, tmpdir=tmp_path, user=USER).install([CASES["past-midnight-sat-sun"]], ID)
    (data,) = schtasks.written.values()
    assert data[:2] == b"\xff\xfe"
    text = data[2:].decode("utf-16-le")
    assert text.startswith('<?xml version="1.0" encoding="UTF-16"?>')
    root = ET.fromstring(text.split("?>", 1)[1])
    assert root.tag == f"{{{NS}}}Task"
    arguments = root.find(f".//{{{NS}}}Arguments")
    assert arguments is not None
    assert arguments.text == (
        '--home "C:\\ProgramData\\optsync data" run --company-key 3 --scheduled'
    )


def test_a_company_name_with_percent_signs_never_reaches_task_scheduler(
    schtasks: FakeSchtasks, tmp_path: Path
):
    # Task Scheduler expands %NAME% in a task's command and has no escape: the task names
    # the company by its key, and its readable name drops the signs.
    entry = win_entry("4", "Sklep %USERNAME% 100%", Schedule())
    WindowsBackend(schtasks, tmpdir=tmp_path, user=USER).install([entry], ID)
    ((name, data),) = schtasks.written.items()
    assert "%" not in name and "%" not in data.decode("utf-16-le")
    assert name == "\\optsync\\home1.4 Sklep USERNAME 100"


def test_a_percent_sign_in_the_home_or_program_path_is_refused_naming_it(tmp_path: Path):
    entry = Entry(company_key="1", company_name="X", schedule=Schedule(),
                  argv=[EXE, "--home", "C:\\data\\50%off", "run", "--company-key", "1"],
                  workdir=Path("C:\\data\\50%off"))
    with pytest.raises(BadInput, match="Task Scheduler would expand"):
        task_xml(entry, ID)


def test_by_default_a_task_runs_as_the_installing_user_with_s4u_and_no_password(
    schtasks: FakeSchtasks, tmp_path: Path
):
    WindowsBackend(schtasks, tmpdir=tmp_path, user=USER).install([CASES["all-days-hourly"]], ID)
    (data,) = schtasks.written.values()
    root = ET.fromstring(data[2:].decode("utf-16-le").split("?>", 1)[1])
    principal = root.find(f"{{{NS}}}Principals/{{{NS}}}Principal")
    assert principal is not None and principal.get("id") == "Author"
    assert principal.findtext(f"{{{NS}}}UserId") == USER
    assert principal.findtext(f"{{{NS}}}LogonType") == "S4U"
    assert root.find(f"{{{NS}}}Actions").get("Context") == "Author"
    (create,) = [c for c in schtasks.calls if c[1] == "/Create"]
    assert "/RU" not in create and "/RP" not in create


def test_the_installing_user_is_domain_backslash_user_on_windows(monkeypatch):
    from optsync.schedule.windows import current_user

    monkeypatch.setattr("os.name", "nt")
    monkeypatch.setenv("USERDOMAIN", "FIRMA")
    monkeypatch.setenv("USERNAME", "ksiegowa")
    assert current_user() == "FIRMA\\ksiegowa"


PASSWORD = "Zx9!qLw#rT"


def test_run_as_hands_the_password_to_schtasks_only_and_uses_logon_type_password(
    schtasks: FakeSchtasks, tmp_path: Path
):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, run_as="FIRMA\\sync", password=PASSWORD)
    backend.install(list(CASES.values()), ID)
    creates = [c for c in schtasks.calls if c[1] == "/Create"]
    assert len(creates) == 3
    for call in creates:
        assert call[-5:] == ["/RU", "FIRMA\\sync", "/RP", PASSWORD, "/F"]
    for data in schtasks.written.values():
        text = data.decode("utf-16-le")
        assert "<LogonType>Password</LogonType>" in text
        assert "<UserId>FIRMA\\sync</UserId>" in text
        assert PASSWORD not in text
    assert PASSWORD not in repr(backend)
    assert backend.in_sync(list(CASES.values()), ID)  # the drift check needs no password
    assert "logon Password" in backend.installed(ID)


def test_a_refused_run_as_password_is_reported_without_the_password(tmp_path: Path):
    from schedule_helpers import Result

    def refusing(argv: list[str]):
        if argv[1] == "/Create":
            return Result(1, stderr=f"ERROR: The user name or password is incorrect ({argv[-2]})")
        return Result(0, stdout="")

    backend = WindowsBackend(refusing, tmpdir=tmp_path, run_as="FIRMA\\sync", password=PASSWORD)
    with pytest.raises(OptsyncError) as caught:
        backend.install([CASES["all-days-hourly"]], ID)
    assert PASSWORD not in caught.value.message
    assert "check the password of FIRMA\\sync" in caught.value.message


def test_switching_from_s4u_to_run_as_is_drift(schtasks: FakeSchtasks, tmp_path: Path):
    entries = [CASES["all-days-hourly"]]
    WindowsBackend(schtasks, tmpdir=tmp_path, user=USER).install(entries, ID)
    other = WindowsBackend(schtasks, tmpdir=tmp_path, run_as="FIRMA\\sync", password="x")
    assert not other.in_sync(entries, ID)
    assert "logon S4U" in other.diff(entries, ID) and "logon Password" in other.diff(entries, ID)


def test_task_name_is_folder_install_id_key_and_an_ascii_company_name():
    assert task_name(ID, CASES["mon-fri-quarter-hours"]) == "\\optsync\\home1.2 Hurtownia Lodz"
    assert task_name(ID, CASES["past-midnight-sat-sun"]) == (
        "\\optsync\\home1.3 100 Zdrowia Zytnia Sp. z o.o."
    )


@pytest.mark.parametrize(
    ("minutes", "text"), [(1, "PT1M"), (15, "PT15M"), (60, "PT1H"), (90, "PT1H30M"), (1440, "P1D")]
)
def test_iso_durations(minutes: int, text: str):
    assert iso_duration(minutes) == text


def task_starts(xml_text: str) -> set[int]:
    """Week minutes at which Task Scheduler (Vista+) starts a task: last start at Duration."""
    root = ET.fromstring(xml_text.split("?>", 1)[1])
    trig = root.find(f".//{{{NS}}}CalendarTrigger")
    assert trig is not None

    def minutes(path: str) -> int:
        node = trig.find(path.replace("t:", f"{{{NS}}}"))
        if node is None:
            return 0
        d, h, m = re.fullmatch(
            r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", node.text or ""
        ).groups()
        return int(d or 0) * 1440 + int(h or 0) * 60 + int(m or 0)

    hh, mm = trig.findtext(f"{{{NS}}}StartBoundary", "").split("T")[1].split(":")[:2]
    start, every, duration = (
        int(hh) * 60 + int(mm),
        minutes("t:Repetition/t:Interval"),
        minutes("t:Repetition/t:Duration"),
    )
    offsets = range(start, start + duration + 1, every) if every else [start]
    week = trig.find(f"{{{NS}}}ScheduleByWeek")
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    days = (
        range(7)
        if week is None
        else [
            names.index(el.tag.split("}")[1]) for el in week.iter() if el.tag.split("}")[1] in names
        ]
    )
    return {(d * MINUTES_PER_DAY + o) % MINUTES_PER_WEEK for d in days for o in offsets}


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 1439),
    end=st.integers(0, 1439),
    every=st.integers(1, 1440),
    days=st.frozensets(st.integers(0, 6), min_size=1),
)
def test_task_trigger_starts_at_exactly_the_schedules_start_times(start, end, every, days):
    schedule = Schedule(start=start, end=end, every=every, days=days)
    assert task_starts(task_xml(win_entry("1", "X", schedule), ID)) == schedule.week_starts()


def test_a_window_with_one_start_has_no_repetition():
    xml = task_xml(win_entry("1", "X", Schedule(start=600, end=610, every=60)), ID)
    assert "<Repetition>" not in xml


def test_second_install_runs_no_create_or_delete(schtasks: FakeSchtasks, tmp_path: Path):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    entries = list(CASES.values())
    assert backend.install(entries, ID) is True
    schtasks.calls.clear()
    assert backend.install(entries, ID) is False
    assert all(call[1] == "/Query" for call in schtasks.calls)
    assert backend.in_sync(entries, ID)


def test_installed_differs_from_render_after_a_task_is_edited_by_hand(
    schtasks: FakeSchtasks, tmp_path: Path
):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    entries = list(CASES.values())
    backend.install(entries, ID)
    name = task_name(ID, CASES["mon-fri-quarter-hours"])
    schtasks.tasks[name] = schtasks.tasks[name].replace("PT15M", "PT30M")
    assert not backend.in_sync(entries, ID)
    assert "every PT30M" in backend.diff(entries, ID)


def test_disabling_one_company_deletes_only_its_task(schtasks: FakeSchtasks, tmp_path: Path):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    backend.install(list(CASES.values()), ID)
    off = CASES["all-days-hourly"]
    off = win_entry(off.company_key, off.company_name, Schedule(enabled=False))
    schtasks.calls.clear()
    assert backend.install(
        [off, CASES["mon-fri-quarter-hours"], CASES["past-midnight-sat-sun"]], ID
    )
    assert [c[1] for c in schtasks.calls if c[1] != "/Query"] == ["/Delete"]
    prefix = f"\\optsync\\{ID}."
    assert {name[len(prefix):].split(" ", 1)[0] for name in schtasks.tasks
            if name.startswith(prefix)} == {"2", "3"}


def test_uninstall_deletes_this_install_ids_tasks_only(schtasks: FakeSchtasks, tmp_path: Path):
    WindowsBackend(schtasks, tmpdir=tmp_path, user=USER).install([CASES["all-days-hourly"]], "other")
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    backend.install(list(CASES.values()), ID)
    assert backend.uninstall(ID) is True
    assert list(schtasks.tasks) == [task_name("other", CASES["all-days-hourly"])]
    assert backend.uninstall(ID) is False


def test_renamed_company_replaces_its_task(schtasks: FakeSchtasks, tmp_path: Path):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, user=USER)
    old = CASES["all-days-hourly"]
    backend.install([old], ID)
    backend.install([win_entry("1", "Demo S.A.", old.schedule)], ID)
    assert list(schtasks.tasks) == ["\\optsync\\home1.1 Demo S.A."]


def test_schtasks_failure_is_an_optsync_error(tmp_path: Path):
    def refusing(argv: list[str]):
        from schedule_helpers import Result

        if argv[1] == "/Create":
            return Result(1, stderr="ERROR: Access is denied.")
        return Result(0, stdout="")

    with pytest.raises(OptsyncError, match="Access is denied"):
        WindowsBackend(refusing, tmpdir=tmp_path, user=USER).install([CASES["all-days-hourly"]], ID)
    assert list(tmp_path.iterdir()) == []  # the XML file does not linger


def test_the_run_as_account_is_read_back_as_given_even_when_windows_shows_a_sid(
    schtasks: FakeSchtasks, tmp_path: Path
):
    backend = WindowsBackend(schtasks, tmpdir=tmp_path, run_as="FIRMA\\sync", password="x")
    backend.install([CASES["all-days-hourly"]], ID)
    (name,) = schtasks.tasks
    schtasks.tasks[name] = schtasks.tasks[name].replace(
        "<UserId>FIRMA\\sync</UserId>", "<UserId>S-1-5-21-1004336348-1177238915-682003330-512</UserId>")
    (facts,) = backend.installed_facts(ID)
    assert facts["user"] == "FIRMA\\sync" and facts["logon"] == "Password"
    again = WindowsBackend(schtasks, tmpdir=tmp_path, run_as=facts["user"], password="")
    assert again.in_sync([CASES["all-days-hourly"]], ID)  # a later change compares without it
