"""One rule for every name an administrator gives (companies, integrations).

A name is printable text: not empty, no space (or other blank) at either end, and none of the
Unicode categories Cc (controls: tab, line feed, U+0085 ...), Cf (invisible format characters:
U+200B, U+200E, U+FEFF ...), Zl (U+2028 line separator) and Zp (U+2029 paragraph separator);
lone surrogates (bytes that were not UTF-8) are refused too. Such characters cut log lines,
crontab lines and tables in two or hide what a name really is. Spaces inside a name, Polish
letters, quotes, ``%`` and ``$`` are all fine.

Names stored by an older optsync that break the rule keep working; ``optsync doctor`` lists
them with the command that renames them.
"""

from __future__ import annotations

import shlex
import unicodedata

from optsync.errors import BadInput

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
MAX_LENGTH = 200
_CONTROL_NAMES = {
    "\t": "TAB", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED", "\x1c": "FILE SEPARATOR", "\x1d": "GROUP SEPARATOR",
    "\x1e": "RECORD SEPARATOR", "\x7f": "DELETE", "\x85": "NEXT LINE",
}


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def describe_char(ch: str) -> str:
    """``U+2028 LINE SEPARATOR``, ``U+000A LINE FEED``, ``U+0001 control character``."""
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "")
    if not name:
        name = "control character" if unicodedata.category(ch) == "Cc" else "character"
    return f"U+{ord(ch):04X} {name}"


def _blank(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch) == "Zs"


def name_problem(name: str) -> str | None:
    """What is wrong with ``name`` under the rule, for people; None when it is a good name."""
    if not name:
        return "is empty"
    for index, ch in enumerate(name):
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            return f"holds {describe_char(ch)} at position {index + 1}"
    if _blank(name[0]) or _blank(name[-1]):
        return "starts or ends with a space"
    if len(name) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    return None


def check_name(name: str, what: str, example: str) -> str:
    """Return ``name`` unchanged when it follows the rule, else raise BadInput naming ``what``.

    ``what`` names the option or argument (``--name``, ``company name``); ``example`` is a
    good value of it, shown in the fix.
    """
    problem = name_problem(name)
    if problem is None:
        return name
    shown = f" '{printable(name)}'" if name else ""
    raise BadInput(
        f"{what}{shown} {problem}",
        "Names are printable text without tabs, line breaks, invisible format characters "
        f"or spaces at either end, for example {example}",
    )


def suggest(name: str) -> str:
    """A name following the rule made from a stored one that breaks it (for doctor's fix)."""
    kept = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cf", "Cs")
    )
    cleaned = " ".join(kept.split())[:MAX_LENGTH].strip()
    return cleaned or "renamed"


def shell_word(text: str) -> str:
    """``text`` as one word for a POSIX shell; ``$'...'`` escapes where it holds unprintables."""
    if not any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in text):
        return shlex.quote(text)
    return "$'" + printable(text.replace("\\", "\\\\").replace("'", "\\'")) + "'"


def printable(text: str) -> str:
    """``text`` with each refused character written as an escape (``\\n``, ``\\u2028``)."""
    out = []
    for ch in text:
        if unicodedata.category(ch) not in REFUSED_CATEGORIES:
            out.append(ch)
        elif ch in _SHORT:
            out.append(_SHORT[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else
                       f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)
