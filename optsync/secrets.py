"""Secrets at rest and in output: Fernet encryption and URL masking.

The key comes from ``$OPTSYNC_SECRET_KEY``, else ``<home>/secret.key`` (created mode 0600),
so the state database alone never reveals a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optsync import clock, connstr
from optsync.errors import BadInput, ConfigError, OptsyncError, os_fault

MASK = "***"
KEY_FILE = "secret.key"
WHOLE_URL = "\x00url:"  # prefix of a "password" that is the whole URL (see split_secret)

# Every secret this process has seen, so that any text shown to a person can be scrubbed.
KNOWN_SECRETS: set[str] = set()


def remember(secret: str | None) -> str | None:
    if secret:
        KNOWN_SECRETS.add(secret)
    return secret


@dataclass(frozen=True)
class StoredSecret:
    """One encrypted value in the state database, named for people."""

    label: str  # e.g. "the operator's password", "company 'Demo' database URL"
    token: str
    fix: str  # how to store it again, e.g. "run 'optsync operator set ...'"


class Vault:
    """Encrypts and decrypts short secrets with one Fernet key.

    The key is ``$OPTSYNC_SECRET_KEY``, else ``<home>/secret.key``. A key file is created
    only while the state database holds no secret: a missing key with stored secrets is an
    error, since a new key would make every one of them unreadable.
    """

    def __init__(
        self, home: Path, stored: Callable[[], list[StoredSecret]] | None = None
    ) -> None:
        self._home = home
        self._stored = stored or (lambda: [])
        self._fernet = None

    @property
    def key_path(self) -> Path:
        return self._home / KEY_FILE

    @property
    def key_source(self) -> str:
        """Where the key comes from, for messages."""
        return "$OPTSYNC_SECRET_KEY" if os.environ.get("OPTSYNC_SECRET_KEY") else str(
            self.key_path)

    def _key(self, *, create: bool) -> bytes:
        env = os.environ.get("OPTSYNC_SECRET_KEY")
        if env:
            return env.strip().encode()
        path = self.key_path
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise ConfigError(
                f"the secret key {path} is a folder, not a key file",
                "Move the folder away and put back the key file that stored the secrets "
                "(or set OPTSYNC_SECRET_KEY); with no stored secrets yet, moving it away is "
                "enough",
            ) from None
        except OSError as exc:
            from optsync.home import check_home  # start-up time: home's toml reader, on a fault only

            check_home(self._home)
            raise (os_fault(exc, path) or exc) from None
        stored = self._stored()
        if stored or not create:
            raise self._missing(stored)
        return self._write_new_key(path)

    def _missing(self, stored: list[StoredSecret]) -> ConfigError:
        path = self.key_path
        names = ", ".join(s.label for s in stored[:3])
        if len(stored) > 3:
            names += f" and {len(stored) - 3} more"
        held = (f"{len(stored)} secret(s) encrypted with it ({names})" if stored
                else "secrets encrypted with it")
        return ConfigError(
            f"the secret key {path} is missing, but the state database holds {held}; "
            "a new key would make them unreadable",
            f"Put back {path} from a backup of the home (or set OPTSYNC_SECRET_KEY to that "
            "key); if the key is lost, run 'optsync init --new-secret-key' and store those "
            "secrets again",
        )

    def _write_new_key(self, path: Path) -> bytes:
        # start-up time: cryptography loads only when a secret is read or written
        from cryptography.fernet import Fernet

        key = Fernet.generate_key()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole under a temporary name, then linked into place: a full disk or
            # a kill never leaves a truncated key, and a key another process made first wins.
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(key + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return path.read_bytes().strip()
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            from optsync.home import check_home  # start-up time: home's toml reader, on a fault only

            check_home(self._home)
            raise (os_fault(exc, exc.filename or path) or exc) from None
        return key

    def renew(self) -> tuple[Path | None, list[StoredSecret]]:
        """Start a new key file after the old key was lost (``init --new-secret-key``).

        Refused while the current key still reads a stored secret (store the others again
        instead). Whatever stood at ``secret.key`` is kept beside it; returns where, and the
        secrets to store again.
        """
        if os.environ.get("OPTSYNC_SECRET_KEY"):
            raise BadInput("the secret key comes from $OPTSYNC_SECRET_KEY",
                           "Set a new key there instead, e.g. from 'python -c \"from "
                           "cryptography.fernet import Fernet; "
                           "print(Fernet.generate_key().decode())\"'")
        stored = self._stored()
        lost = stored
        if self.key_path.is_file():
            try:
                lost = self.unreadable()
            except ConfigError:  # not a valid key: every secret is lost with it
                lost = stored
            readable = len(stored) - len(lost)
            if readable or not stored:
                fixes = "; ".join(dict.fromkeys(s.fix for s in lost))
                raise BadInput(
                    f"the secret key {self.key_path} reads {readable} of the {len(stored)} "
                    "stored secret(s), which a new key would make unreadable",
                    "Keep it" + (f", and store the others again: {fixes}" if lost else ""),
                )
        return self.replace_key(), lost

    def replace_key(self) -> Path | None:
        """Write a new key file, keeping an existing one beside it; return where it went."""
        path = self.key_path
        kept = None
        if path.is_dir() or path.exists():
            kept = path.with_name(f"{path.name}.old-{clock.now():%Y%m%dT%H%M%SZ}")
            path.rename(kept)
        self._fernet = None
        self._write_new_key(path)
        return kept

    def _cipher(self, *, create: bool = True):
        if self._fernet is None:
            # start-up time: cryptography loads only when a secret is read or written
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(self._key(create=create))
            except ValueError:
                raise ConfigError(
                    f"the secret key in {self.key_source} is not a valid Fernet key",
                    "Put back the key that stored the secrets, or set OPTSYNC_SECRET_KEY to "
                    "a key made by 'python -c \"from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())\"'",
                ) from None
        return self._fernet

    def encrypt(self, secret: str | None) -> str | None:
        if secret is None:
            return None
        remember(secret)
        return self._cipher().encrypt(secret.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        # start-up time: cryptography loads only when a secret is read or written
        from cryptography.fernet import InvalidToken

        try:
            return remember(self._cipher(create=False).decrypt(token.encode()).decode())
        except InvalidToken:
            raise self._unreadable(token) from None

    def _unreadable(self, token: str) -> ConfigError:
        found = next((s for s in self._stored() if s.token == token), None)
        label = found.label if found else "a stored secret"
        fix = f"; or store it again: {found.fix}" if found else ", or store it again"
        return ConfigError(
            f"{label} cannot be decrypted with the secret key {self.key_source}; it was "
            "stored with another key",
            f"Put back the key that stored it ({self.key_path} from a backup, or "
            f"OPTSYNC_SECRET_KEY){fix}",
        )

    def unreadable(self) -> list[StoredSecret]:
        """The stored secrets this key cannot decrypt (all of them when it is missing)."""
        # start-up time: cryptography loads only when a secret is read or written
        from cryptography.fernet import InvalidToken

        stored = self._stored()
        if not stored:
            return []
        cipher = self._cipher(create=False)
        bad = []
        for secret in stored:
            try:
                remember(cipher.decrypt(secret.token.encode()).decode())
            except InvalidToken:
                bad.append(secret)
        return bad


def split_secret(url: str) -> tuple[str, str | None]:
    """Split a database URL or ``odbc:`` string into (masked form, password or None).

    The one parser of :mod:`optsync.connstr` finds the password. When it sits in a URL's
    query, or the string cannot be read at all, the whole string is the secret (stored
    encrypted) and only its masked form is kept in the clear.
    """
    try:
        parsed = connstr.parse(url)
    except connstr.Unparsable:
        return connstr.wholly_masked(url), WHOLE_URL + remember(url)
    for password in parsed.passwords:
        _remember_spellings(password)
    if not parsed.passwords:
        return parsed.masked, None
    if parsed.in_query:
        return parsed.masked, WHOLE_URL + remember(url)
    return parsed.masked, parsed.passwords[0]


def _remember_spellings(password: str) -> None:
    for spelling in connstr.spellings(password):
        remember(spelling)


def join_secret(masked: str, password: str | None) -> str:
    """Put a password back into a string masked by :func:`split_secret`."""
    if password is None:
        return masked
    if password.startswith(WHOLE_URL):
        return password[len(WHOLE_URL) :]
    _remember_spellings(password)
    if masked.lower().startswith("odbc:"):
        body = masked[5:]
        try:
            return masked[:5] + connstr.odbc_set(body, "PWD", password, "Password")
        except connstr.Unparsable:  # stored by an older version: put it where *** stands
            found = _STORED_ODBC_MASK.search(masked)
            if found is None:
                return masked
            return masked[: found.start(2)] + connstr.odbc_quote(password) + masked[found.end(2):]
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    return make_url(masked).set(password=password).render_as_string(hide_password=False)


_STORED_ODBC_MASK = re.compile(r"(?i)\b(PWD|Password)\s*=\s*(\*\*\*)")
# Free text (a driver's message) is not a connection string: these catch what looks like a
# password in it, "scheme://user:PASSWORD@" (up to the last '@' of the word) and
# "PWD=..." / "Password=..." (braced values with '}}', also URL-encoded inside odbc_connect).
_LOOSE_URL_PASSWORD = re.compile(r"([A-Za-z][\w+.-]*://[^:/@\s]*):(\S*)@")
_LOOSE_PARAM_PASSWORD = re.compile(
    r"(?i)((?:^|[;&?{\s:'\"(\[]|%3B)(?:pwd|password)\s*(?:=|%3D)\s*)"
    r"(\{(?:[^}]|\}\})*(?:\}|$)|%7B.*?(?:%7D(?!%7D)|$)|.*?(?=;|&|%3B|\s|$))"
)


def _mask_loosely(text: str) -> str:
    text = _LOOSE_URL_PASSWORD.sub(r"\1:***@", text)
    return _LOOSE_PARAM_PASSWORD.sub(r"\1***", text)


def mask_url(url: str) -> str:
    """The URL or ODBC string with any password replaced by ``***`` (wholly masked when it
    cannot be read)."""
    return split_secret(url)[0]


def secrets_of(url: str | None) -> list[str]:
    """Every password a URL or ``odbc:`` string holds, in each way it may be written."""
    if not url:
        return []
    try:
        passwords = connstr.parse(url).passwords
    except connstr.Unparsable:
        return [url]
    found: set[str] = set()
    for password in passwords:
        found |= connstr.spellings(password)
    return sorted(found)


MIN_REDACTED = 4  # shorter strings are everywhere in text; URLs are masked structurally


def redact(text: str, secrets: list[str | None] | None = None) -> str:
    """Mask passwords in URL-like text, then every given (default: known) secret in it."""
    text = _mask_loosely(text)
    candidates = list(secrets or []) + list(KNOWN_SECRETS)
    for secret in sorted({s for s in candidates if s and len(s) >= MIN_REDACTED}, key=len,
                         reverse=True):
        text = text.replace(secret, MASK)
    return text


EXCERPT = 200  # characters kept of the first line of a foreign error in a message


def first_line(exc: BaseException, secrets: list[str | None] | None = None) -> str:
    """The first line of an unexpected exception's text (for a database error, its driver's),
    passwords masked (the known ones and ``secrets``), then cut to :data:`EXCERPT` (200)
    characters; "" when the exception has no text."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return redact(lines[0], secrets)[:EXCERPT] if lines else ""


def exception_text(exc: BaseException, secrets: list[str | None] | None = None) -> str:
    """The one text optsync makes of an exception it did not foresee: its type name and the
    first line of its text, ``"OperationalError: unable to open database file"``, masked
    and cut to :data:`EXCERPT` (200) characters as :func:`first_line` does (the type name
    alone when there is no text)."""
    first = first_line(exc, secrets)
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def error_text(exc: BaseException, secrets: list[str | None] | None = None) -> str:
    """An error's text for a step or a record: an :class:`OptsyncError`'s own message (which
    optsync wrote, masked), else :func:`exception_text`."""
    if isinstance(exc, OptsyncError):
        return redact(exc.message, secrets)
    return exception_text(exc, secrets)
