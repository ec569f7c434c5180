"""Secrets at rest and in output: Fernet encryption and URL masking.

The key comes from ``$OPTSYNC_SECRET_KEY``, else ``<home>/secret.key`` (created mode 0600),
so the state database alone never reveals a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from optsync.errors import ConfigError

MASK = "***"
WHOLE_URL = "\x00url:"  # prefix of a "password" that is the whole URL (see split_secret)

# Every secret this process has seen, so that any text shown to a person can be scrubbed.
KNOWN_SECRETS: set[str] = set()


def remember(secret: str | None) -> str | None:
    if secret:
        KNOWN_SECRETS.add(secret)
    return secret
_ODBC_SECRET = re.compile(r"(?i)\b(PWD|Password)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)")


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
    """Split a database URL or ``odbc:`` string into (masked form, password or None)."""
    if url.lower().startswith("odbc:"):
        found = _ODBC_SECRET.search(url)
        if not found:
            return url, None
        value = found.group(2)
        if value.startswith("{") and value.endswith("}"):
            value = value[1:-1].replace("}}", "}")
        masked = url[: found.start(2)] + MASK + url[found.end(2) :]
        return masked, remember(value)
    if "://" not in url or url.lower().startswith("file://"):
        return url, None
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy parses: still never show what looks like one
        return _mask_loosely(url), None
    if parsed.password is None:
        masked = _mask_loosely(url)
        if masked == url:
            return url, None
        # A password inside the query (odbc_connect=...PWD=..., ?password=...): the whole
        # URL becomes the secret, the masked one is what is stored and shown.
        for found in _LOOSE_PARAM_PASSWORD.finditer(url):
            remember(found.group(2))
        return masked, WHOLE_URL + remember(url)
    return parsed.render_as_string(hide_password=True), remember(str(parsed.password))


def join_secret(masked: str, password: str | None) -> str:
    """Put a password back into a URL masked by :func:`split_secret`."""
    if password is None:
        return masked
    if password.startswith(WHOLE_URL):
        return password[len(WHOLE_URL) :]
    if masked.lower().startswith("odbc:"):
        value = password
        if any(ch in password for ch in ";{}= "):
            value = "{" + password.replace("}", "}}") + "}"
        found = _ODBC_SECRET.search(masked)
        assert found is not None
        return masked[: found.start(2)] + value + masked[found.end(2) :]
    from sqlalchemy.engine import make_url

    return make_url(masked).set(password=password).render_as_string(hide_password=False)


# For text that is not a parseable URL: "scheme://user:PASSWORD@", and "PWD=...;" also
# URL-encoded inside odbc_connect=...
_LOOSE_URL_PASSWORD = re.compile(r"([A-Za-z][\w+.-]*://[^:/@\s]*):([^@\s]*)@")
_LOOSE_PARAM_PASSWORD = re.compile(
    r"(?i)((?:^|[;&?{\s:]|%3B)(?:pwd|password)(?:=|%3D))(.*?)(?=;|&|%3B|\s|$)"
)


def _mask_loosely(text: str) -> str:
    text = _LOOSE_URL_PASSWORD.sub(r"\1:***@", text)
    return _LOOSE_PARAM_PASSWORD.sub(r"\1***", text)


def mask_url(url: str) -> str:
    """The URL or ODBC string with any password replaced by ``***``."""
    return split_secret(url)[0]


MIN_REDACTED = 4  # shorter strings are everywhere in text; URLs are masked structurally


def redact(text: str, secrets: list[str | None] | None = None) -> str:
    """Mask passwords in URL-like text, then every given (default: known) secret in it."""
    text = _mask_loosely(text)
    candidates = list(secrets or []) + list(KNOWN_SECRETS)
    for secret in sorted((s for s in candidates if s and len(s) >= MIN_REDACTED), key=len,
                         reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text
