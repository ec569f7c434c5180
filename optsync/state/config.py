"""The configuration rows: operator, companies, integrations, schedules."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, select

from optsync.connstr import shown
from optsync.errors import BadInput, ConfigError, UnknownCompany
from optsync.schedule.model import Schedule
from optsync.secrets import join_secret
from optsync.state import tables as t
from optsync.state.db import State, utcnow
from optsync.upsert import update_or_insert


@dataclass
class Operator:
    acronym: str
    has_password: bool
    verified: bool | None


@dataclass
class Company:
    id: int
    name: str
    db_url: str  # masked, as shown (wholly masked when it cannot be read)
    config_db_url: str | None  # masked, as shown
    description: str
    source: str
    _db_secret: str | None = field(default=None, repr=False)
    _config_secret: str | None = field(default=None, repr=False)
    _db_stored: str = field(default="", repr=False)  # masked, as stored
    _config_stored: str | None = field(default=None, repr=False)

    def real_db_url(self, state: State) -> str:
        return _joined(state, self._db_stored or self.db_url, self._db_secret,
                       f"the database URL of company {self.name!r}", self._fix())

    def real_config_db_url(self, state: State) -> str | None:
        stored = self._config_stored or self.config_db_url
        if stored is None:
            return None
        return _joined(state, stored, self._config_secret,
                       f"the configuration database URL of company {self.name!r}", self._fix())

    def _fix(self) -> str:
        return (f"Set it again: 'optsync company remove {self.name}' and 'optsync company add' "
                "(or 'optsync company discover')")

    def secrets(self, state: State) -> list[str | None]:
        return [state.vault.decrypt(self._db_secret), state.vault.decrypt(self._config_secret)]


@dataclass
class Integration:
    id: int
    company_id: int
    company: str
    name: str
    app: str
    endpoint: str  # masked, as shown (wholly masked when it cannot be read)
    kind: str
    export: list[str]
    import_: list[str]
    price_list: int | None
    warehouse: str | None
    _secret: str | None = field(default=None, repr=False)
    _stored: str = field(default="", repr=False)  # masked, as stored

    def real_endpoint(self, state: State) -> str:
        return _joined(state, self._stored or self.endpoint, self._secret,
                       f"the endpoint of integration {self.company}/{self.name}",
                       "Set it again: 'optsync integration remove' and 'optsync integration add'")

    def as_json(self) -> dict:
        return {
            "company": self.company, "name": self.name, "app": self.app,
            "endpoint": self.endpoint, "kind": self.kind, "export": self.export,
            "import": self.import_, "price_list": self.price_list,
            "warehouse": self.warehouse,
        }


def _joined(state: State, stored: str, token: str | None, what: str, fix: str) -> str:
    """The stored URL with its password; refused when it is stored in a doubtful form.

    An earlier version may have stored a string masked by looser rules, with part of its
    password left in the clear: it is shown wholly masked, and never handed to a driver,
    whose error messages would quote it.
    """
    if shown(stored) != stored:
        raise ConfigError(f"{what} is stored in a form optsync can no longer read safely", fix)
    return join_secret(stored, state.vault.decrypt(token))


def same_urls(state: State, company: Company, db_url: str, config_db_url: str | None) -> bool:
    """Whether the company's stored URLs, with their passwords, are these (discover); a
    stored form that cannot be used counts as different, so it is written again."""
    try:
        return (company.real_db_url(state), company.real_config_db_url(state)) == (
            db_url, config_db_url)
    except ConfigError:
        return False


# operator -------------------------------------------------------------------------------
def get_operator(state: State) -> Operator | None:
    with state.engine.connect() as conn:
        row = conn.execute(select(t.operator)).first()
    if row is None:
        return None
    return Operator(row.acronym, row.password_secret is not None, row.verified)


def operator_password(state: State) -> str | None:
    with state.engine.connect() as conn:
        token = conn.execute(select(t.operator.c.password_secret)).scalar()
    return state.vault.decrypt(token)


def set_operator(conn: Connection, state: State, acronym: str, password: str | None) -> None:
    conn.execute(delete(t.operator))
    conn.execute(
        t.operator.insert().values(
            id=1, acronym=acronym, password_secret=state.vault.encrypt(password),
            verified=None, updated_at=utcnow(),
        )
    )


def mark_operator_verified(state: State, verified: bool) -> None:
    with state.engine.begin() as conn:
        conn.execute(t.operator.update().values(verified=verified))


def remove_operator(conn: Connection) -> bool:
    return bool(conn.execute(delete(t.operator)).rowcount)


# companies ------------------------------------------------------------------------------
def _company(row) -> Company:
    return Company(
        id=row.id, name=row.name, db_url=shown(row.db_url),
        config_db_url=shown(row.config_db_url),
        description=row.description or "", source=row.source,
        _db_secret=row.db_secret, _config_secret=row.config_db_secret,
        _db_stored=row.db_url, _config_stored=row.config_db_url,
    )


def list_companies(state: State) -> list[Company]:
    with state.engine.connect() as conn:
        rows = conn.execute(select(t.companies).order_by(t.companies.c.name)).all()
    return [_company(r) for r in rows]


def find_company(state: State, name: str) -> Company | None:
    with state.engine.connect() as conn:
        row = conn.execute(select(t.companies).where(t.companies.c.name == name)).first()
    return _company(row) if row else None


def get_company(state: State, name: str) -> Company:
    company = find_company(state, name)
    if company is None:
        raise UnknownCompany(name)
    return company


def company_values(
    state: State, *, db: tuple[str, str | None], config_db: tuple[str, str | None] | None,
    description: str | None, source: str,
) -> dict:
    values = dict(
        db_url=db[0], db_secret=state.vault.encrypt(db[1]),
        config_db_url=config_db[0] if config_db else None,
        config_db_secret=state.vault.encrypt(config_db[1]) if config_db else None,
        source=source,
    )
    if description is not None:
        values["description"] = description
    return values


def insert_company(conn: Connection, name: str, values: dict) -> int:
    values.setdefault("description", "")
    result = conn.execute(t.companies.insert().values(name=name, created_at=utcnow(), **values))
    return int(result.inserted_primary_key[0])


def update_company(conn: Connection, company_id: int, values: dict) -> None:
    conn.execute(t.companies.update().where(t.companies.c.id == company_id).values(**values))


def delete_company(conn: Connection, company_id: int) -> None:
    """Remove a company with its integrations, schedule and sync state; runs and logs stay."""
    integration_ids = select(t.integrations.c.id).where(t.integrations.c.company_id == company_id)
    conn.execute(delete(t.export_hashes).where(t.export_hashes.c.integration_id.in_(integration_ids)))
    conn.execute(delete(t.sync_marks).where(t.sync_marks.c.integration_id.in_(integration_ids)))
    conn.execute(delete(t.integrations).where(t.integrations.c.company_id == company_id))
    conn.execute(delete(t.schedules).where(t.schedules.c.company_id == company_id))
    conn.execute(delete(t.locks).where(t.locks.c.company_id == company_id))
    conn.execute(delete(t.companies).where(t.companies.c.id == company_id))


# integrations ---------------------------------------------------------------------------
def _split(text: str) -> list[str]:
    return [e for e in text.split(",") if e]


def list_integrations(state: State, company: Company | None = None) -> list[Integration]:
    q = (
        select(t.integrations, t.companies.c.name.label("company"))
        .join(t.companies, t.companies.c.id == t.integrations.c.company_id)
        .order_by(t.companies.c.name, t.integrations.c.name)
    )
    if company is not None:
        q = q.where(t.integrations.c.company_id == company.id)
    with state.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [
        Integration(
            id=r.id, company_id=r.company_id, company=r.company, name=r.name, app=r.app,
            endpoint=shown(r.endpoint), kind=r.kind, export=_split(r.export_entities),
            import_=_split(r.import_entities), price_list=r.price_list,
            warehouse=r.warehouse, _secret=r.endpoint_secret, _stored=r.endpoint,
        )
        for r in rows
    ]


def insert_integration(conn: Connection, values: dict) -> int:
    values = dict(values)
    values["export_entities"] = ",".join(values.pop("export"))
    values["import_entities"] = ",".join(values.pop("import_"))
    exists = conn.execute(
        select(t.integrations.c.id).where(
            t.integrations.c.company_id == values["company_id"],
            t.integrations.c.name == values["name"],
        )
    ).first()
    if exists:
        raise BadInput(
            f"the company already has an integration named {values['name']!r}",
            "Give another one with --name, or remove the old one first",
        )
    result = conn.execute(t.integrations.insert().values(created_at=utcnow(), **values))
    return int(result.inserted_primary_key[0])


def delete_integration(conn: Connection, integration_id: int) -> None:
    conn.execute(delete(t.export_hashes).where(t.export_hashes.c.integration_id == integration_id))
    conn.execute(delete(t.sync_marks).where(t.sync_marks.c.integration_id == integration_id))
    conn.execute(delete(t.integrations).where(t.integrations.c.id == integration_id))


# schedules ------------------------------------------------------------------------------
def _schedule(row) -> Schedule:
    return Schedule(
        enabled=bool(row.enabled), start=row.start_min, end=row.end_min,
        every=row.every_min, days=frozenset(int(d) for d in row.days.split(",") if d),
    )


def get_schedules(state: State) -> dict[int, Schedule]:
    """Every stored schedule by company id."""
    with state.engine.connect() as conn:
        rows = conn.execute(select(t.schedules)).all()
    return {r.company_id: _schedule(r) for r in rows}


def get_schedule(state: State, company_id: int) -> Schedule | None:
    with state.engine.connect() as conn:
        row = conn.execute(
            select(t.schedules).where(t.schedules.c.company_id == company_id)
        ).first()
    return _schedule(row) if row else None


def put_schedule(conn: Connection, company_id: int, schedule: Schedule) -> None:
    values = dict(
        enabled=schedule.enabled, start_min=schedule.start, end_min=schedule.end,
        every_min=schedule.every, days=",".join(str(d) for d in sorted(schedule.days)),
        updated_at=utcnow(),
    )
    update_or_insert(conn, t.schedules, ("company_id",), {"company_id": company_id, **values})
