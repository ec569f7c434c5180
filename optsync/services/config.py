"""Configuration changes: operator, companies, integrations, schedules.

Each change is validated before anything is written, logged (category ``config``), and
followed by a reconcile of the OS entries: what restarting Comarch's automat service after a
change of its parameters does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optsync import dburl
from optsync.apps import APPS, EXPORT_ENTITIES, IMPORT_ENTITIES, parse_entities
from optsync.endpoints import endpoint_kind, load_endpoint
from optsync.errors import BadInput, OptsyncError, Unreachable
from optsync.names import check_name, name_problem, printable
from optsync.optima.choices import check_settings
from optsync.optima.operator import read_companies
from optsync.schedule.model import Schedule, parse_days, parse_every, parse_hhmm
from optsync.secrets import exception_text, mask_url, secrets_of, split_secret
from optsync.services import hints
from optsync.services.schedules import reconcile, schedule_json
from optsync.state import config as cfg
from optsync.state import logs
from optsync.state import tables as t
from optsync.state.db import State


@dataclass
class Outcome:
    """What a change did, for people: notes and warnings (stderr), plus data for JSON."""

    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data: object = None


def _after_change(state: State, outcome: Outcome) -> Outcome:
    note, warning = reconcile(state)
    if note:
        outcome.notes.append(note)
    if warning:
        outcome.warnings.append(warning)
    return outcome


def company(state: State, name: str) -> cfg.Company:
    """The registered company called ``name``; an unknown name is refused (exit 2)."""
    return cfg.get_company(state, name)


def companies(state: State) -> list[dict]:
    """Every registered company with its integrations' names, as ``company list`` shows it."""
    by_company: dict[int, list[str]] = {}
    for integ in cfg.list_integrations(state):
        by_company.setdefault(integ.company_id, []).append(integ.name)
    return [
        {"name": c.name, "db": c.db_url, "description": c.description,
         "config_db": c.config_db_url, "integrations": by_company.get(c.id, [])}
        for c in cfg.list_companies(state)
    ]


def integrations(state: State, company_name: str | None = None) -> list[cfg.Integration]:
    """The integrations of one company (an unknown name is refused), or of all."""
    only = cfg.get_company(state, company_name) if company_name is not None else None
    return cfg.list_integrations(state, only)


def operator(state: State) -> dict:
    """The operator as ``operator show --json`` gives it; never the password."""
    op = cfg.get_operator(state)
    if op is None:
        return {"acronym": None, "has_password": False, "verified": None}
    return {"acronym": op.acronym, "has_password": op.has_password, "verified": op.verified}


def check_company_name(name: str, what: str = "company name") -> str:
    """The name rule of :mod:`optsync.names` for a company (exit 2 naming ``what``)."""
    return check_name(name, what, "'Demo Sp. z o.o.'")


# operator -------------------------------------------------------------------------------
def set_operator(state: State, acronym: str, password: str | None) -> Outcome:
    acronym = acronym.strip()
    if not acronym or len(acronym) > 20 or any(ch.isspace() for ch in acronym):
        raise BadInput(
            f"operator acronym {acronym!r} is not valid",
            "Use the Optima operator code, up to 20 characters without spaces, e.g. ADMIN",
        )
    with state.engine.begin() as conn:
        cfg.set_operator(conn, state, acronym, password)
        logs.write(
            state, "info", "config", f"operator set to {acronym}",
            data={"acronym": acronym, "has_password": password is not None}, conn=conn,
        )
    return _after_change(state, Outcome(notes=[f"operator {acronym} saved"]))


def remove_operator(state: State) -> Outcome:
    with state.engine.begin() as conn:
        removed = cfg.remove_operator(conn)
        if removed:
            logs.write(state, "info", "config", "operator removed", conn=conn)
    if not removed:
        return Outcome(notes=["no operator was set"])
    return _after_change(state, Outcome(notes=["operator removed"]))


# companies ------------------------------------------------------------------------------
def _reachability_warning(url: str, what: str) -> str | None:
    try:
        dburl.connect_check(url, what)
    except OptsyncError as exc:
        return f"{exc.what}; saved anyway, 'optsync doctor' checks it again"
    return None


def add_company(
    state: State, name: str, db: str, *, config_db: str | None = None,
    description: str | None = None,
) -> Outcome:
    check_company_name(name)
    db = dburl.absolute(dburl.validate(db, "the company database URL"))
    if config_db:
        config_db = dburl.absolute(dburl.validate(config_db, "the configuration database URL"))
    if cfg.find_company(state, name):
        raise BadInput(
            f"company {name!r} already exists",
            "Choose another name, or 'optsync company remove' it first",
        )
    values = cfg.company_values(
        state, db=split_secret(db), config_db=split_secret(config_db) if config_db else None,
        description=description, source="manual",
    )
    with state.engine.begin() as conn:
        cfg.insert_company(conn, name, values)
        logs.write(
            state, "info", "config", f"company {name} added", company=name,
            data={"db": values["db_url"], "config_db": values["config_db_url"]}, conn=conn,
        )
    outcome = Outcome(notes=[f"company {name!r} added"])
    for url, what in ((db, "company database"), (config_db, "configuration database")):
        if url:
            warning = _reachability_warning(url, what)
            if warning:
                outcome.warnings.append(warning)
    return _after_change(state, outcome)


def discover(state: State, config_db: str, *, dry_run: bool = False) -> Outcome:
    """Register every active company of an Optima configuration database."""
    config_db = dburl.absolute(dburl.validate(config_db, "the configuration database URL"))
    dburl.connect_check(config_db, "configuration database")
    engine = dburl.engine_for(config_db)
    try:
        with engine.connect() as conn:
            rows = read_companies(conn)
    except OptsyncError:
        raise
    except Exception as exc:
        raise Unreachable(
            f"the configuration database {mask_url(config_db)} has no readable CDN.Bazy "
            f"({exception_text(exc, secrets_of(config_db))})",
            hints.POINT_CONFIG_DB,
        ) from None
    finally:
        engine.dispose()

    results = []
    skipped: list[str] = []
    config_split = split_secret(config_db)
    with state.engine.begin() as conn:
        for row in rows:
            if not row.active:
                continue
            problem = name_problem(row.name)
            if problem is not None:
                skipped.append(f"company '{printable(row.name)}' in CDN.Bazy {problem}; "
                               "skipped (rename it in Optima, then run discover again)")
                continue
            name = row.name
            url = dburl.with_database(config_db, row.database)
            db_split = split_secret(url)
            existing = cfg.find_company(state, name)
            if existing is None:
                action = "added"
            elif cfg.same_urls(state, existing, url, config_db):
                # compared with their passwords: a changed password is saved too
                action = "unchanged"
            else:
                action = "updated"
            results.append({"name": name, "db": db_split[0], "action": action})
            if dry_run or action == "unchanged":
                continue
            values = cfg.company_values(
                state, db=db_split, config_db=config_split, description=None,
                source="discover",
            )
            if existing is None:
                cfg.insert_company(conn, name, values)
            else:
                cfg.update_company(conn, existing.id, values)
            logs.write(
                state, "info", "config", f"company {name} {action} by discover",
                company=name, data={"db": db_split[0], "config_db": config_split[0]},
                conn=conn,
            )
    outcome = Outcome(data=results, warnings=skipped)
    counts = {a: sum(1 for r in results if r["action"] == a) for a in ("added", "updated")}
    prefix = "would be " if dry_run else ""
    outcome.notes.append(
        f"{len(results)} active companies found: {counts['added']} {prefix}added, "
        f"{counts['updated']} {prefix}updated"
    )
    if dry_run:
        return outcome
    return _after_change(state, outcome)


def remove_company(state: State, name: str) -> Outcome:
    company = cfg.get_company(state, name)
    with state.engine.begin() as conn:
        cfg.delete_company(conn, company.id)
        logs.write(state, "info", "config", f"company {name} removed", company=name, conn=conn)
    return _after_change(state, Outcome(notes=[f"company {name!r} removed"]))


def rename_company(state: State, old: str, new: str) -> Outcome:
    """Give a company a new name; its key, schedule, integrations, runs and logs stay."""
    company = cfg.get_company(state, old)
    check_company_name(new, "the new name")
    if new == company.name:
        return Outcome(notes=[f"company {new!r} already has that name"])
    if cfg.find_company(state, new):
        raise BadInput(
            f"company {new!r} already exists",
            "Choose another name, or 'optsync company remove' that company first",
        )
    with state.engine.begin() as conn:
        cfg.update_company(conn, company.id, {"name": new})
        logs.write(
            state, "info", "config", f"company '{printable(company.name)}' renamed to {new}",
            company=new, data={"old": company.name, "new": new, "key": company.id}, conn=conn,
        )
    return _after_change(state, Outcome(notes=[f"company '{printable(company.name)}' renamed "
                                               f"to {new!r}"]))


# integrations ---------------------------------------------------------------------------
def add_integration(
    state: State, company_name: str, app: str, endpoint: str, *, name: str | None = None,
    export: str | None = None, import_: str | None = None, price_list: int | None = None,
    warehouse: str | None = None,
) -> Outcome:
    company = cfg.get_company(state, company_name)
    if app not in APPS:
        raise BadInput(f"application {app!r} is not known", f"Use one of {', '.join(APPS)}")
    default_export, default_import = APPS[app]
    exports = parse_entities(export, EXPORT_ENTITIES, "the exported entities")
    imports = parse_entities(import_, IMPORT_ENTITIES, "the imported entities")
    if price_list is not None and price_list < 1:
        raise BadInput(f"price list {price_list} is not an Optima price number",
                       "Use the number of a price list in Optima's price list definitions")
    if warehouse is not None and not warehouse.strip():
        raise BadInput("the warehouse symbol is empty", "Give an Optima warehouse's symbol")
    name = check_name(app if name is None else name, "the integration name", "eshop")
    if not endpoint.strip():
        raise BadInput("the endpoint is empty", "Use a database URL or a folder path")
    dburl.validate(endpoint, "the endpoint", paths_ok=True)  # a folder path is fine too
    endpoint = dburl.absolute(endpoint)
    settings_warning = _check_settings(state, company, price_list, warehouse)
    masked, secret = split_secret(endpoint)
    values = dict(
        company_id=company.id, name=name, app=app, endpoint=masked,
        endpoint_secret=state.vault.encrypt(secret), kind=endpoint_kind(endpoint),
        export=exports if exports is not None else list(default_export),
        import_=imports if imports is not None else list(default_import),
        price_list=price_list, warehouse=warehouse,
    )
    with state.engine.begin() as conn:
        cfg.insert_integration(conn, values)
        logs.write(
            state, "info", "config", f"integration {name} ({app}) added to {company.name}",
            company=company.name,
            data={"integration": name, "app": app, "endpoint": masked,
                  "export": values["export"], "import": values["import_"]},
            conn=conn,
        )
    outcome = Outcome(notes=[f"integration {name!r} added to {company.name!r}"])
    for warning in (settings_warning, _endpoint_warning(endpoint)):
        if warning:
            outcome.warnings.append(warning)
    return _after_change(state, outcome)


def _check_settings(state: State, company: cfg.Company, price_list: int | None,
                    warehouse: str | None) -> str | None:
    """Refuse a price list or warehouse the company database does not have (exit 2).

    Checked only when the company database can be reached; otherwise a warning, and the
    value is stored as given ('optsync doctor' and every pass check it again).
    """
    if price_list is None and warehouse is None:
        return None
    what = hints.setting_values(price_list, warehouse)
    try:
        problems = check_settings(company.real_db_url(state), price_list, warehouse)
    except OptsyncError as exc:
        return (f"{exc.what}; {what} not checked against Optima, saved anyway; "
                "'optsync doctor' checks it again")
    if problems:
        fixes = [hints.SETTING_FIX[e] for e in ("prices", "stock") if e in problems]
        raise BadInput("; ".join(problems.values()), "Use " + " and ".join(fixes))
    return None


def _endpoint_warning(endpoint: str) -> str | None:
    try:
        ep = load_endpoint(endpoint)
        try:
            ep.check()
        finally:
            ep.close()
    except OptsyncError as exc:
        return f"{exc.what}; saved anyway, the first pass reports it again"
    return None


def _integration(state: State, company: cfg.Company, name: str, shown: str) -> cfg.Integration:
    """The company's integration ``name``, else bad input naming it as ``shown``."""
    for integration in cfg.list_integrations(state, company):
        if integration.name == name:
            return integration
    raise BadInput(
        f"company {company.name!r} has no integration {shown}",
        f"Run {hints.integration_list(company.name)} to see them",
    )


def remove_integration(state: State, company_name: str, name: str) -> Outcome:
    company = cfg.get_company(state, company_name)
    found = _integration(state, company, name, repr(name))
    with state.engine.begin() as conn:
        cfg.delete_integration(conn, found.id)
        logs.write(
            state, "info", "config", f"integration {name} removed from {company.name}",
            company=company.name, conn=conn,
        )
    return _after_change(state, Outcome(notes=[f"integration {name!r} removed"]))


def rename_integration(state: State, company_name: str, old: str, new: str) -> Outcome:
    """Give an integration a new name; its settings and sync state stay."""
    company = cfg.get_company(state, company_name)
    found = _integration(state, company, old, f"'{printable(old)}'")
    check_name(new, "the new name", "eshop")
    if any(i.name == new for i in cfg.list_integrations(state, company)):
        raise BadInput(f"the company already has an integration named {new!r}",
                       "Choose another name")
    with state.engine.begin() as conn:
        conn.execute(t.integrations.update().where(t.integrations.c.id == found.id)
                     .values(name=new))
        logs.write(
            state, "info", "config",
            f"integration '{printable(old)}' of {company.name} renamed to {new}",
            company=company.name, data={"old": old, "new": new}, conn=conn,
        )
    return Outcome(notes=[f"integration '{printable(old)}' renamed to {new!r}"])


# schedules ------------------------------------------------------------------------------
def set_schedule(
    state: State, company_name: str, *, enable: bool | None = None,
    start: str | None = None, end: str | None = None, every: str | None = None,
    days: str | None = None,
) -> Outcome:
    """Change a company's schedule; every value is checked before anything is written."""
    company = cfg.get_company(state, company_name)
    parsed = dict(
        start=parse_hhmm(start, "the start time") if start is not None else None,
        end=parse_hhmm(end, "the end time") if end is not None else None,
        every=parse_every(every, "the interval") if every is not None else None,
        days=parse_days(days, "the days") if days is not None else None,
    )
    old = cfg.get_schedule(state, company.id)
    base = old or Schedule(enabled=True)
    new = Schedule(
        enabled=base.enabled if enable is None else enable,
        **{k: (v if v is not None else getattr(base, k)) for k, v in parsed.items()},
    )
    with state.engine.begin() as conn:
        cfg.put_schedule(conn, company.id, new)
        logs.write(
            state, "info", "config",
            f"schedule of {company.name} set: {'enabled' if new.enabled else 'disabled'} "
            f"{new.from_text}-{new.to_text} every {new.every_text} on {new.days_text}",
            company=company.name, data=schedule_json(new), conn=conn,
        )
    return _after_change(state, Outcome(notes=[f"schedule of {company.name!r} saved"]))
