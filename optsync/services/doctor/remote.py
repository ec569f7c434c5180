"""Doctor checks of the configuration: operator, company databases, endpoints."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from optsync.dburl import engine_for, timeout_args
from optsync.endpoints import load_endpoint
from optsync.errors import OptsyncError, Unreachable
from optsync.optima.choices import check_settings
from optsync.optima.tables import schema_for
from optsync.secrets import exception_text, mask_url, secrets_of
from optsync.services import hints
from optsync.services.doctor.check import Check
from optsync.state import config as cfg
from optsync.state.db import State
from optsync.sync.identity import disagreement

COMPANY_TABLES = ("Towary", "TwrCeny", "Kontrahenci", "TraNag")
CONFIG_TABLES = ("Bazy", "Operatorzy")


def configuration(state: State) -> list[Check]:
    """The operator, then per company its databases and its integrations' endpoints."""
    companies = cfg.list_companies(state)
    integrations = cfg.list_integrations(state)
    checks = [_operator(state, bool(companies))]
    for company in companies:
        checks.append(_database(state, company, config=False))
        if company.config_db_url:
            checks.append(_database(state, company, config=True))
        own = [i for i in integrations if i.company_id == company.id]
        if not own:
            checks.append(Check(
                f"company {company.name}", "warn",
                "has no integrations, so its passes stop before doing anything (exit 78)",
                "run " + hints.add_integration(state, company.name),
            ))
        checks += [_endpoint(state, integ) for integ in own]
        checks += [_settings(state, company, integ) for integ in own
                   if integ.price_list is not None or integ.warehouse is not None]
    return checks


def urls(state: State) -> list[str]:
    """Every database URL and endpoint target in use (with passwords), state database first."""
    found = [state.url]
    readers = []
    for company in cfg.list_companies(state):
        readers += [lambda c=company: c.real_db_url(state),
                    lambda c=company: c.real_config_db_url(state)]
    readers += [lambda i=integ: i.real_endpoint(state) for integ in cfg.list_integrations(state)]
    for read in readers:
        try:
            url = read()
        except OptsyncError:  # a secret this key cannot read: the secret key check says so
            continue
        if url:
            found.append(url)
    return found


def _operator(state: State, has_companies: bool) -> Check:
    operator = cfg.get_operator(state)
    if operator is not None:
        return Check("operator", "ok", f"{operator.acronym} is set")
    return Check("operator", "fail" if has_companies else "warn",
                 "no operator is set; passes refuse to run (exit 78)",
                 "run " + hints.set_operator(state))


def _database(state: State, company: cfg.Company, *, config: bool) -> Check:
    what = "configuration database" if config else "company database"
    name = f"company {company.name} {'config database' if config else 'database'}"
    masked = (company.config_db_url if config else company.db_url) or ""
    tables = CONFIG_TABLES if config else COMPANY_TABLES
    try:
        url = company.real_config_db_url(state) if config else company.real_db_url(state)
        missing = missing_tables(url or "", what, tables)
    except OptsyncError as exc:
        return Check(name, "fail", exc.what, exc.fix)
    if missing:
        return Check(
            name, "fail", f"{masked} lacks the Optima tables {', '.join(missing)}",
            f"point the company at its Optima {what}: remove it with "
            + hints.hint(state, "company", "remove", company.name)
            + " and add it again with the right URL",
        )
    return Check(name, "ok", f"{masked}: Optima tables present")


def missing_tables(url: str, what: str, tables: tuple[str, ...]) -> list[str]:
    """The tables of ``tables`` the database lacks; Unreachable when it cannot be opened."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            raise Unreachable(f"{what} {mask_url(url)} does not exist (no such file)",
                              "Check the path, or create the database first")
    engine = engine_for(url, what=what, **timeout_args(url))
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            schema = schema_for(conn.dialect.name)
            return [t for t in tables if not inspector.has_table(t, schema=schema)]
    except Exception as exc:  # noqa: BLE001 - any driver error means: not reachable
        raise Unreachable(
            f"{what} {mask_url(url)} cannot be reached "
            f"({exception_text(exc, secrets_of(url))})",
            "Check that the server runs, the URL and the credentials",
        ) from None
    finally:
        engine.dispose()


def _endpoint(state: State, integ: cfg.Integration) -> Check:
    name = f"endpoint {integ.company}/{integ.name}"
    try:
        endpoint = load_endpoint(integ.real_endpoint(state))
        try:
            endpoint.check()
            marks = endpoint.read_marks()
        finally:
            endpoint.close()
    except OptsyncError as exc:
        return Check(name, "fail", exc.what, exc.fix)
    except Exception as exc:  # noqa: BLE001 - a finding, not a crash
        text = exception_text(exc, secrets_of(integ.real_endpoint(state)))
        return Check(name, "fail", f"{integ.endpoint} cannot be used ({text})",
                     "check the endpoint with 'optsync integration list'")
    why = disagreement(state, integ.id, marks)
    if why is not None:
        return Check(
            name, "warn", f"{integ.endpoint}: {why}; optsync's mark there disagrees with the "
            "state database",
            "nothing to do if the endpoint was replaced or restored on purpose: the next pass "
            "sends everything again; otherwise check that the integration points at the "
            "right endpoint",
        )
    return Check(name, "ok", f"{integ.endpoint} ({integ.kind}) reachable")


def _settings(state: State, company: cfg.Company, integ: cfg.Integration) -> Check:
    """The integration's price list and warehouse exist in the company database."""
    name = f"settings {integ.company}/{integ.name}"
    try:
        problems = check_settings(company.real_db_url(state), integ.price_list, integ.warehouse)
    except OptsyncError as exc:
        return Check(name, "warn", f"not checked: {exc.what}", exc.fix)
    if problems:
        return Check(
            name, "fail", "; ".join(problems.values()) + "; the step fails on every pass",
            "remove the integration with " + hints.remove_integration(state, integ.name,
                                                                      company.name)
            + f" and add it again with {hints.VALID_SETTINGS}",
        )
    shown = [f"price list {integ.price_list}" if integ.price_list is not None else "",
             f"warehouse {integ.warehouse}" if integ.warehouse is not None else ""]
    return Check(name, "ok", " and ".join(x for x in shown if x) + " exist in Optima")
