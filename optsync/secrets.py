"""Secrets at rest and in output: Fernet encryption and URL masking.

The key comes from ``$OPTSYNC_SECRET_KEY``, else ``<home>/secret.key`` (created mode 0600),
so the state database alone never reveals a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from optsync import connstr
from optsync.errors import ConfigError

MASK = "***"
WHOLE_URL = "\x00url:"  # prefix of a "password" that is the whole URL (see split_secret)

# Every secret this process has seen, so that any text shown to a person can be scrubbed.
KNOWN_SECRETS: set[str] = set()


def remember(secret: str | None) -> str | None:
    if secret:
        KNOWN_SECRETS.add(secret)
    return secret


class Vault:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, home: Path) -> None:
        self._home = home
        self._fernet = None

    def _key(self) -> bytes:
        env = os.environ.get("OPTSYNC_SECRET_KEY")
        if env:
            return env.encode()
        path = self._home / "secret.key"
        if path.exists():
            return path.read_bytes().strip()
        from cryptography.fernet import Fernet

        key = Fernet.generate_key()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key + b"\n")
        return key

    def _cipher(self):
        if self._fernet is None:
            from cryptography.fernet import Fernet

            try:
                self._fernet = Fernet(self._key())
            except ValueError:
                raise ConfigError(
                    "the secret key is not a valid Fernet key",
                    "Set OPTSYNC_SECRET_KEY to a key made by "
                    "'python -c \"from cryptography.fernet import Fernet; "
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
        from cryptography.fernet import InvalidToken

        try:
            return remember(self._cipher().decrypt(token.encode()).decode())
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted with this secret key",
                "Use the OPTSYNC_SECRET_KEY or <home>/secret.key that stored it, "
                "or set the password again",
            ) from None


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
