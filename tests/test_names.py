"""One name rule for companies and integrations, checked over arbitrary text."""

from __future__ import annotations

import subprocess
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from optsync.errors import BadInput
from optsync.names import REFUSED_CATEGORIES, check_name, name_problem, printable, shell_word


def follows_the_rule(text: str) -> bool:
    """The rule as stated for people, written independently of optsync.names."""
    if not text or len(text) > 200:
        return False
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp", "Cs"} for ch in text):
        return False
    return not (text[0].isspace() or text[-1].isspace()
                or unicodedata.category(text[0]) == "Zs"
                or unicodedata.category(text[-1]) == "Zs")


def one_clean_line(message: str) -> bool:
    return not any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in message)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=210))
@example("Demo\u2028Sp. z o.o.")
@example("Sklep\u0085")
@example("a\u2029b")
@example("zero\u200bwidth")
@example("tab\there")
@example("line\nbreak")
@example("\ufeffBOM")
@example(" leading")
@example("trailing\u00a0")
@example("Sp.\u00a0z o.o.")
@example('100% Zdrowia "Żytnia" $HOME `id`')
def test_a_name_is_accepted_exactly_when_it_follows_the_rule_and_refusals_are_one_clean_line(
    text: str,
):
    assert (name_problem(text) is None) == follows_the_rule(text)
    if follows_the_rule(text):
        assert check_name(text, "--name", "--name eshop") == text  # never altered
        return
    with pytest.raises(BadInput) as caught:
        check_name(text, "--name", "--name eshop")
    message = caught.value.message
    assert message.startswith("--name ")
    assert one_clean_line(message)  # the offending characters are shown as escapes


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("eshop\nmain", "holds U+000A LINE FEED at position 6"),
        ("a\tb", "holds U+0009 TAB"),
        ("Sklep\u0085", "holds U+0085 NEXT LINE"),
        ("a\u2028b", "holds U+2028 LINE SEPARATOR"),
        ("a\u2029b", "holds U+2029 PARAGRAPH SEPARATOR"),
        ("a\u200bb", "holds U+200B ZERO WIDTH SPACE"),
        (" eshop", "starts or ends with a space"),
        ("", "is empty"),
        ("x" * 201, "is longer than 200 characters"),
    ],
)
def test_each_refusal_says_what_is_wrong(name: str, said: str):
    assert name_problem(name) == said or said in (name_problem(name) or "")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_shell_word_gives_bash_back_the_exact_name(text: str):
    if "\x00" in text:
        return  # no shell word holds NUL, and no stored name can
    printed = subprocess.run(
        ["bash", "-c", f"printf %s {shell_word(text)}"], capture_output=True, check=True,
        env={"LC_ALL": "C.UTF-8"},
    ).stdout
    assert printed.decode("utf-8") == text


def test_printable_escapes_only_refused_characters():
    assert printable("Łódź\u2028Sp\t1") == "Łódź\\u2028Sp\\t1"
