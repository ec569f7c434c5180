"""What the services return, drawn for people: lines, tables and the notes on stderr.

The one place where results become text. JSON goes out through :func:`optsync.output.emit_json`
from each command; everything a person reads is shaped here.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from optsync import output

if TYPE_CHECKING:
    from optsync.services.config import Outcome
    from optsync.services.doctor import Check
    from optsync.services.status import Report
    from optsync.state.config import Integration
    from optsync.state.logs import LogRecord
    from optsync.state.runs import Run

DOCTOR_STATUSES = ("ok", "warn", "fail")


def outcome(result: Outcome, *, quiet: bool = False) -> None:
    """A configuration change's notes and warnings, for people (stderr)."""
    if not quiet:
        for note in result.notes:
            output.info(note)
    for warning in result.warnings:
        output.warn(warning)


def _yes_no(value: bool | None, yes: str, no: str, unknown: str) -> str:
    return unknown if value is None else yes if value else no


def status_report(report: Report) -> None:
    """The service section for people: a summary and a table of companies on stdout."""
    installs = [
        f"{i['host']}: {i['backend']} in {i['target']} ({i['entries']} entries, "
        f"{i['installed_at']})"
        for i in report.installs
    ]
    lines = [
        f"host:        {report.host}",
        f"backend:     {report.backend}",
        "installed:   " + ("\n             ".join(installs) if installs else "nothing"),
        "entries:     " + _yes_no(report.in_sync, "match the schedules",
                                  "differ from the schedules", "not installed on this host"),
    ]
    if report.backend == "cron":
        lines.append("cron daemon: " + _yes_no(report.daemon_running, "running",
                                               "not running", "unknown"))
    sys.stdout.write("\n".join(lines) + "\n")
    output.table(
        None, ["company", "enabled", "last pass", "next pass", "running now"],
        [
            (c["name"], "yes" if c["enabled"] else "no",
             f"{c['last_run']['started_at']} {c['last_run']['status']}" if c["last_run"]
             else "never",
             c["next_run"] or "",
             f"run {c['running']['run_id']} on {c['running']['host']} "
             f"(pid {c['running']['pid']})" if c["running"] else "")
            for c in report.companies
        ],
    )


def status_problems(report: Report) -> None:
    """Problems and notes for people, on stderr (also under ``--json``)."""
    for problem in report.problems:
        output.info(f"optsync: problem: {problem}")
    for note in report.notes:
        output.info(f"optsync: note: {note}")


def doctor_checks(checks: list[Check]) -> None:
    """The checks as a table on stdout and a one-line tally on stderr."""
    output.table(None, ["check", "status", "detail", "fix"],
                 [(c.check, c.status.upper(), c.detail, c.fix) for c in checks])
    tally = {s: sum(c.status == s for c in checks) for s in DOCTOR_STATUSES}
    output.info(f"{tally['ok']} ok, {tally['warn']} warning(s), {tally['fail']} failure(s)")


def pass_summary(result: Run) -> None:
    """The one line a pass leaves for people (and in cron.log), and each failed step."""
    if result.status == "skipped":
        output.info(f"{result.company}: skipped ({result.reason})")
        return
    took = (result.finished_at - result.started_at).total_seconds() if result.finished_at else 0
    for line in pass_lines(result.company, result.status, result.id, result.steps, took):
        output.info(line)


def pass_lines(company: str, status: str, run_id: int | None, steps: list[dict],
               seconds: float) -> list[str]:
    """The lines of :func:`pass_summary` for a pass that was not skipped."""
    written = sum(s["written"] for s in steps)
    rejected = sum(s["rejected"] for s in steps)
    failed = sum(1 for s in steps if s["status"] == "failed")
    line = (f"{company}: {status} (run {run_id}, "
            f"{len(steps)} steps, {written} written, {rejected} rejected")
    if failed:
        line += f", {failed} failed"
    return [line + f", {seconds:.1f} s)"] + [
        f"  {s['direction']} {s['entity']} ({s['integration']}) failed: {s['error']}"
        for s in steps if s["status"] == "failed"]


def discovered(rows: list[dict]) -> None:
    """The companies ``company discover`` found, and what it did with each."""
    output.table(None, ["company", "database", "action"],
                 [(r["name"], r["db"], r["action"]) for r in rows])


def companies(rows: list[dict]) -> None:
    """The registered companies, or how to add the first."""
    if not rows:
        output.info("no companies yet; add one with 'optsync company add' or "
                    "'optsync company discover'")
        return
    output.table(None, ["company", "database", "configuration db", "integrations"],
                 [(r["name"], r["db"], r["config_db"] or "", ", ".join(r["integrations"]))
                  for r in rows])


def integrations(items: list[Integration]) -> None:
    """The integrations with their endpoints and flows."""
    output.table(None, ["company", "name", "app", "endpoint", "export", "import"],
                 [(i.company, i.name, i.app, i.endpoint, ",".join(i.export),
                   ",".join(i.import_)) for i in items])


def operator(op: dict) -> None:
    """The operator for people (never the password), or how to set one."""
    if op["acronym"] is None:
        output.info("no operator set; run 'optsync operator set ACRONYM'")
        return
    verified = {True: "yes", False: "no", None: "not checked yet"}[op["verified"]]
    sys.stdout.write(f"operator: {op['acronym']}\npassword: "
                     f"{'set' if op['has_password'] else 'none'}\n"
                     f"verified in Optima: {verified}\n")


def log_records(records: list[LogRecord]) -> None:
    """Log records as a table, oldest first."""
    if not records:
        output.info("no log records match")
        return
    output.table(None, ["time (UTC)", "level", "category", "company", "run", "message"],
                 [(r.as_json()["ts"], r.level, r.category, r.company or "",
                   r.run_id or "", r.message) for r in records])


def schedules(rows: list[dict]) -> None:
    """Every company's schedule with its last and next pass."""
    # start-up time: the schedule model loads for this table only
    from optsync.schedule.model import DAY_NAMES, format_days, format_every

    output.table(
        None, ["company", "enabled", "from", "to", "every", "days", "last pass", "next pass"],
        [
            (r["company"], "yes" if r["enabled"] else "no", r["from"], r["to"],
             format_every(r["every"]), format_days(frozenset(DAY_NAMES.index(d) for d in r["days"])),
             f"{r['last_run']['started_at']} {r['last_run']['status']}" if r["last_run"]
             else "never", r["next_run"] or "")
            for r in rows
        ],
    )
