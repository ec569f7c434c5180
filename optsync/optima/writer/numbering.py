"""Document numbers in the company's own series.

Optima numbers a document by its document definition (``DokDefinicje``): the definition's
numbering scheme ``DDf_Numeracja`` (for instance ``@symbol/@numer/@rok``) becomes the
document's ``TrN_NumerString`` with the number left as the placeholder ``@numerS``
(``RO/@numerS/2026``), and ``TrN_NumerNr`` is the next number of that class and string, so the
series restarts with each year or month the scheme names. The definition used is the class's
default one: the active definition of that class that Optima created first (lowest id).

Scheme tokens: ``@symbol`` (the definition's symbol), ``@numer`` / ``@numerS`` (the number),
``@rok`` (four-digit year), ``@rok2`` (two-digit year), ``@miesiac`` (two-digit month),
``@dzien`` (two-digit day). Any other ``@`` token makes the import of that class fail with a
message naming it, rather than number documents in a series Optima would not continue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from optsync.errors import ConfigError
from optsync.optima.tables import OptimaTables

PLACEHOLDER = "@numerS"
DEFAULT_SCHEME = "@symbol/@numer/@rok"
TRIES = 5  # numbers taken meanwhile by Optima users before a document is given up
_TOKEN = re.compile(r"@[A-Za-z_0-9]+")


@dataclass(frozen=True)
class Series:
    """The document definition a class is numbered by."""

    ddf_id: int | None
    symbol: str
    scheme: str

    def number_string(self, day: datetime) -> str:
        """``TrN_NumerString`` of a document dated ``day``: the scheme with every token but the
        number filled in."""
        values = {
            "@symbol": self.symbol,
            "@numer": PLACEHOLDER,
            "@numers": PLACEHOLDER,
            "@rok": f"{day.year:04d}",
            "@rok2": f"{day.year % 100:02d}",
            "@miesiac": f"{day.month:02d}",
            "@dzien": f"{day.day:02d}",
        }

        def fill(match: re.Match[str]) -> str:
            token = match[0].lower()
            if token not in values:
                raise ConfigError(
                    f"the numbering scheme {self.scheme!r} of document definition "
                    f"{self.symbol!r} uses {match[0]}, which optsync cannot fill",
                    "Use @symbol, @numer, @rok, @rok2, @miesiac and @dzien in that definition, "
                    "or import these documents by hand",
                )
            return values[token]

        return _TOKEN.sub(fill, self.scheme)[:31]


def default_series(conn: Connection, t: OptimaTables, klasa: int, symbol: str) -> Series:
    """The class's default definition (active, lowest id), else ``symbol`` with the default scheme."""
    d = t.DokDefinicje.c
    row = conn.execute(
        select(d.DDf_DDfID, d.DDf_Symbol, d.DDf_Numeracja)
        .where(d.DDf_Klasa == klasa, d.DDf_Nieaktywna == 0)
        .order_by(d.DDf_DDfID)
        .limit(1)
    ).first()
    if row is None:
        return Series(None, symbol, DEFAULT_SCHEME)
    ddf_id, ddf_symbol, scheme = row
    return Series(ddf_id, (ddf_symbol or "").strip() or symbol, (scheme or "").strip() or DEFAULT_SCHEME)


class Numbers:
    """The next free number per (class, number string), read from Optima and then counted on,
    re-read after a number turned out taken."""

    def __init__(self, t: OptimaTables) -> None:
        self.t = t
        self._last: dict[tuple[int, str], int] = {}

    def reset(self) -> None:
        """Forget every counter: a new transaction reads them again (and locks, on SQL Server)."""
        self._last.clear()

    def next(self, conn: Connection, klasa: int, numer_string: str) -> int:
        key = (klasa, numer_string)
        if key not in self._last:
            n = self.t.TraNag.c
            stmt = (
                select(func.max(n.TrN_NumerNr))
                .where(n.TrN_TypDokumentu == klasa, n.TrN_NumerString == numer_string)
                .with_hint(self.t.TraNag, "WITH (UPDLOCK, HOLDLOCK)", "mssql")
            )
            self._last[key] = int(conn.scalar(stmt) or 0)
        return self._last[key] + 1

    def used(self, klasa: int, numer_string: str, number: int) -> None:
        """Count ``number`` as used (once its document is written)."""
        self._last[(klasa, numer_string)] = number

    def taken(self, conn: Connection, klasa: int, numer_string: str, number: int) -> bool:
        """Whether someone else holds ``number`` now; the counter is then read again."""
        n = self.t.TraNag.c
        found = conn.scalar(
            select(func.count())
            .select_from(self.t.TraNag)
            .where(
                n.TrN_NumerString == numer_string,
                n.TrN_NumerNr == number,
                n.TrN_Anulowany == 0,
            )
        )
        self._last.pop((klasa, numer_string), None)
        return bool(found)
