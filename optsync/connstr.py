"""The one reader of connection strings: database URLs and ``odbc:`` connection strings.

Every place that stores, shows, masks or changes a connection string goes through
:func:`parse`, so a password is found by the same rules everywhere:

* ``odbc:`` strings follow the ODBC rules: ``name=value`` pairs separated by ``;``, names
  compared without regard to case, a value in braces ``{...}`` may hold ``;`` and writes a
  ``}`` as ``}}``. The password is the value of ``PWD`` or ``Password``.
* URLs follow SQLAlchemy's rules (``scheme://user:password@host:port/database?query``,
  ``%``-escapes in the password); a password may also sit in the query (``?password=...``)
  or inside an ``odbc_connect=`` connection string.

A string these rules cannot read without doubt (a stray brace, a value in braces that is not
closed, an ``@`` in a URL password that is not written ``%40``, the password given twice...)
raises :class:`Unparsable`, whose reason never quotes the string; such a string is refused
where it is typed in, and shown wholly masked if an older version stored it.

Only the standard library is imported here; SQLAlchemy loads when a URL is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"
PASSWORD_KEYS = frozenset({"pwd", "password"})  # ODBC attribute names of the password
QUERY_PASSWORD_KEYS = frozenset({"pwd", "password", "passwd"})  # URL query parameters
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class Unparsable(ValueError):
    """A connection string the rules cannot read; ``reason`` never quotes the string."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class OdbcPair:
    """One ``name=value`` of an ODBC connection string; ``start:end`` is the value's text."""

    key: str
    value: str
    start: int
    end: int

    @property
    def name(self) -> str:
        return self.key.lower()


@dataclass(frozen=True)
class Parsed:
    """A connection string read by the rules: what may be shown and what must be hidden."""

    kind: str  # "odbc", "url" or "path" (anything else: a folder, a file:// URL)
    text: str
    masked: str  # the string with every password replaced by ***
    passwords: tuple[str, ...] = field(default=())  # every password found, decoded
    in_query: bool = False  # a password sits in a URL's query (or in its odbc_connect)

    @property
    def password(self) -> str | None:
        return self.passwords[0] if self.passwords else None


# ODBC -------------------------------------------------------------------------------------
def odbc_pairs(body: str) -> list[OdbcPair]:
    """The pairs of an ODBC connection string (without ``odbc:``), or :class:`Unparsable`."""
    pairs: list[OdbcPair] = []
    i, n = 0, len(body)
    while i < n:
        if body[i] == ";" or body[i].isspace():
            i += 1
            continue
        eq = body.find("=", i)
        semi = body.find(";", i)
        if eq < 0 or (0 <= semi < eq):
            raise Unparsable(f"attribute {len(pairs) + 1} has no '=' (write name=value pairs "
                             "separated by ';')")
        key = body[i:eq].strip()
        if not key or any(ch in key for ch in "{}[]"):
            raise Unparsable(f"attribute {len(pairs) + 1} has no valid name before its '='")
        j = eq + 1
        while j < n and body[j] == " ":
            j += 1
        if j < n and body[j] == "{":  # spaces before a value in braces are not part of it
            start, j = j, j + 1
            chars: list[str] = []
            while True:
                close = body.find("}", j)
                if close < 0:
                    raise Unparsable(f"the value of {key} opens a '{{' that is never closed")
                chars.append(body[j:close])
                if close + 1 < n and body[close + 1] == "}":
                    chars.append("}")
                    j = close + 2
                    continue
                end = close + 1
                break
            k = end
            while k < n and body[k] == " ":
                k += 1
            if k < n and body[k] != ";":
                raise Unparsable(f"text follows the closing '}}' of the value of {key} "
                                 "(inside braces a '}' is written '}}')")
            pairs.append(OdbcPair(key, "".join(chars), start, end))
            i = k
        else:  # a value without braces is every character up to the next ';', as typed
            j = eq + 1
            end = body.find(";", j)
            end = n if end < 0 else end
            value = body[j:end]
            if "{" in value or "}" in value:
                raise Unparsable(f"the value of {key} holds a brace without being in braces "
                                 "(write it as {...} with every '}' doubled)")
            pairs.append(OdbcPair(key, value, j, end))
            i = end
    passwords = [p for p in pairs if p.name in PASSWORD_KEYS]
    if len(passwords) > 1:
        raise Unparsable("the password is given more than once (PWD or Password)")
    return pairs


def odbc_quote(value: str) -> str:
    """``value`` as an ODBC attribute value: in braces (``}`` doubled) where it needs them."""
    if value == "" or value != value.strip() or any(ch in value for ch in ";{}="):
        return "{" + value.replace("}", "}}") + "}"
    return value


def odbc_get(body: str, *names: str) -> str | None:
    """The value of the first attribute named one of ``names`` (any case), or None."""
    wanted = {n.lower() for n in names}
    for pair in odbc_pairs(body):
        if pair.name in wanted:
            return pair.value
    return None


def odbc_set(body: str, name: str, value: str, *aliases: str) -> str:
    """``body`` with attribute ``name`` (or an alias) set to ``value``, added when absent."""
    wanted = {n.lower() for n in (name, *aliases)}
    for pair in odbc_pairs(body):
        if pair.name in wanted:
            return body[: pair.start] + odbc_quote(value) + body[pair.end :]
    return body.rstrip("; ") + (";" if body.strip() else "") + f"{name}={odbc_quote(value)}"


def _parse_odbc(prefix: str, body: str, text: str) -> Parsed:
    pairs = odbc_pairs(body)
    secret = next((p for p in pairs if p.name in PASSWORD_KEYS), None)
    if secret is None:
        return Parsed("odbc", text, text)
    masked = prefix + body[: secret.start] + MASK + body[secret.end :]
    return Parsed("odbc", text, masked, (secret.value,))


# URLs -------------------------------------------------------------------------------------
# How SQLAlchemy splits a URL (sqlalchemy.engine.url._parse_url), used for the spans of the
# password and the query in the text as typed, so that masking keeps everything else as is.
_URL_PARTS = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/\?]+)\]|(?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)


def _parse_url(text: str) -> Parsed:
    # start-up time: sqlalchemy loads only where a URL is read
    from sqlalchemy.engine import make_url

    try:
        url = make_url(text)
    except Exception:  # noqa: BLE001 - its message may quote the URL: never shown
        raise Unparsable("it is not a database URL (scheme://user:password@host:port/database"
                         "?options; a ':' or '@' in the password is written %3A or %40)") from None
    parts = _URL_PARTS.match(text)
    if parts is None or parts.end() != len(text):
        raise Unparsable("it is not a database URL SQLAlchemy reads whole")
    raw_user = parts.group("username") or ""
    if url.password is not None and text.count("@") != raw_user.count("@") + 1:
        raise Unparsable("its password holds an '@' (write it as %40) or the URL has an '@' "
                         "after the host")
    passwords: list[str] = [str(url.password)] if url.password else []
    masked_options: dict[str, str] = {}
    for key, value in url.query.items():
        if key.lower() not in QUERY_PASSWORD_KEYS | {"odbc_connect"}:
            continue
        if not isinstance(value, str):
            raise Unparsable(f"the option {key} is given more than once")
        if key.lower() == "odbc_connect":
            try:
                inner = _parse_odbc("", value, value)
            except Unparsable as exc:
                raise Unparsable(f"its odbc_connect option cannot be read: {exc.reason}") from None
            if inner.passwords:
                passwords += inner.passwords
                masked_options[key] = quote_plus(inner.masked).replace("%2A%2A%2A", MASK)
        elif value:
            passwords.append(value)
            masked_options[key] = MASK
    masked = text
    if masked_options:  # each option as typed, those holding a password masked
        options = []
        for option in parts.group("query").split("&"):
            key = unquote_plus(option.split("=", 1)[0])
            options.append(f"{option.split('=', 1)[0]}={masked_options[key]}"
                           if key in masked_options else option)
        masked = masked[: parts.start("query")] + "&".join(options)
    if url.password:
        masked = masked[: parts.start("password")] + MASK + masked[parts.end("password") :]
    return Parsed("url", text, masked, tuple(passwords), in_query=bool(masked_options))


# the one entry point ----------------------------------------------------------------------
def kind_of(text: str) -> str:
    """``odbc``, ``url`` or ``path``, from the form alone (nothing is parsed)."""
    stripped = text.strip()
    if stripped.lower().startswith("odbc:"):
        return "odbc"
    found = _SCHEME.match(stripped)
    if found and found.group(1).lower() != "file":
        return "url"
    return "path"


def parse(text: str) -> Parsed:
    """Read ``text`` by the rules above, or raise :class:`Unparsable`."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise Unparsable("it holds a line break or another control character")
    kind = kind_of(text)
    if kind == "odbc":
        return _parse_odbc(text[:5], text[5:], text)
    if kind == "url":
        return _parse_url(text)
    return Parsed("path", text, text)


def wholly_masked(text: str) -> str:
    """What is shown of a string that cannot be read: its kind, nothing of its content."""
    if text.strip().lower().startswith("odbc:"):
        return "odbc:" + MASK
    found = _SCHEME.match(text.strip())
    return (found.group(1) + "://" + MASK) if found else MASK


def shown(stored: str | None) -> str | None:
    """A stored (already masked) string as it may be shown; wholly masked when doubtful.

    Strings stored by an older version may have been masked by looser rules; any that these
    rules cannot read, or that hold a password other than ``***``, are never shown.
    """
    if stored is None:
        return None
    try:
        parsed = parse(stored)
    except Unparsable:
        return wholly_masked(stored)
    if any(p.strip() != MASK for p in parsed.passwords):
        return wholly_masked(stored)
    return stored


def spellings(password: str) -> set[str]:
    """The ways a password can be written inside a URL or a connection string."""
    return {password, quote(password, safe=""), quote_plus(password),
            odbc_quote(password), quote_plus(odbc_quote(password))}
