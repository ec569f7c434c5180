"""A company database, a state and an endpoint driven pass by pass, on a server clock of the test's own.

A plain module (not conftest) so that tests import it by a name no other folder uses.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, update

from optsync.demo import sample
from optsync.endpoints import load_endpoint
from optsync.optima.tables import tables_for
from optsync.state.db import State
from optsync.sync.export import ExportJob, run_export
from optsync.sync.steps import Step
from optsync.sync.watermark import ServerTime

WARSAW = ZoneInfo("Europe/Warsaw")


class ServerClock:
    """The Optima server's clock, set by the test: UTC, shown in the server's time zone."""

    def __init__(self, utc: datetime, zone: ZoneInfo = WARSAW) -> None:
        self.utc = utc
        self.zone = zone

    @classmethod
    def at_local(cls, local: datetime, zone: ZoneInfo = WARSAW, *, fold: int = 0) -> ServerClock:
        aware = local.replace(tzinfo=zone, fold=fold)
        return cls(aware.astimezone(UTC).replace(tzinfo=None), zone)

    @property
    def local(self) -> datetime:
        return self.utc.replace(tzinfo=UTC).astimezone(self.zone).replace(tzinfo=None)

    def advance(self, **delta: float) -> None:
        self.utc += timedelta(**delta)

    def __call__(self, _conn) -> ServerTime:
        return ServerTime(self.local, self.utc)


class ExportBench:
    """One company database, one state, one endpoint; :meth:`run` is one export step."""

    def __init__(self, root: Path, endpoint: str = "folder", *, products: int | None = None,
                 clock: ServerClock | None = None) -> None:
        self.root = root
        self.db = root / "optima.db"
        url = f"sqlite:///{self.db}"
        if products is None:
            sample.create_company_db(url)
        else:
            sample.bulk_company_db(url, products)
        self.engine = create_engine(url)
        self.t = tables_for(self.engine)
        self.state = State(root / "home")
        if endpoint == "folder":
            (root / "shop").mkdir()
            self.target = str(root / "shop")
        else:
            self.target = f"sqlite:///{root / 'shop.db'}"
        self.endpoint = load_endpoint(self.target)
        self.clock = clock or ServerClock.at_local(datetime(2026, 11, 30, 12, 0))
        self.run_id = 0

    def run(self, entity: str = "products", **options) -> Step:
        self.run_id += 1
        with self.engine.connect() as conn:
            return run_export(ExportJob(
                self.state, conn, self.t, self.endpoint, 1, "shop", entity, self.run_id,
                clock=self.clock, **options))

    def optima(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db)

    def stamp(self, stamp: datetime, *, codes: list[str] | None = None, name: str | None = None,
              table: str = "Towary") -> None:
        """Modify products (or customers) as Optima would: new values, one modification stamp."""
        tab = getattr(self.t, table)
        prefix = "Twr" if table == "Towary" else "Knt"
        values = {f"{prefix}_TS_Mod": stamp}
        if name is not None:
            values["Twr_Nazwa" if table == "Towary" else "Knt_Nazwa1"] = name
        stmt = update(tab).values(**values)
        if codes is not None:
            stmt = stmt.where(tab.c[f"{prefix}_Kod"].in_(codes))
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def codes(self, table: str = "Towary") -> list[str]:
        column = "Twr_Kod" if table == "Towary" else "Knt_Kod"
        ident = "Twr_TwrId" if table == "Towary" else "Knt_KntId"
        with self.optima() as c:
            return [r[0] for r in c.execute(f"select {column} from {table} order by {ident}")]

    def folder_records(self, entity: str = "products") -> list[dict]:
        out = []
        for path in sorted((self.root / "shop" / "out" / entity).glob("*.jsonl")):
            out += [json.loads(line) for line in path.read_text().splitlines()]
        return out

    def sql_rows(self, entity: str = "products") -> dict[str, int]:
        key = "code"
        with sqlite3.connect(self.root / "shop.db") as c:
            return dict(c.execute(f"select {key}, deleted from optsync_{entity}"))

    def close(self) -> None:
        self.endpoint.close()
        self.state.dispose()
        self.engine.dispose()
