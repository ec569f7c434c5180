"""One text for an exception optsync did not foresee: type name, first line, masked, cut."""

from __future__ import annotations

from optsync.errors import BadInput
from optsync.secrets import EXCERPT, error_text, exception_text, first_line


class DriverError(Exception):
    """Stands for a SQLAlchemy error wrapping its driver's (``.orig``)."""

    def __init__(self, orig: BaseException) -> None:
        super().__init__("wrapped: " + str(orig))
        self.orig = orig


def test_the_text_is_the_type_name_and_the_first_line_only():
    assert exception_text(ValueError("bad value\nsecond line")) == "ValueError: bad value"


def test_an_exception_without_text_is_named_by_its_type():
    assert exception_text(KeyError()) == "KeyError"
    assert first_line(RuntimeError("  \n")) == ""


def test_the_first_line_is_cut_to_the_one_excerpt_length():
    text = exception_text(RuntimeError("x" * 1000))
    assert text == "RuntimeError: " + "x" * EXCERPT
    assert EXCERPT == 200


def test_a_password_is_masked_before_the_cut_so_no_part_of_it_is_left():
    secret = "s3cr3t-Passw0rd"
    exc = RuntimeError("y" * (EXCERPT - 5) + secret)
    assert "s3cr3" not in exception_text(exc, [secret])
    url_exc = RuntimeError("cannot connect to postgresql://sync:hunter22@db/test")
    assert "hunter22" not in exception_text(url_exc)


def test_a_database_error_shows_its_drivers_first_line_under_its_own_type_name():
    exc = DriverError(OSError("database is locked\nretry later"))
    assert exception_text(exc) == "DriverError: database is locked"


def test_an_optsync_error_keeps_its_own_message_whole():
    long_fix = "Do this " + "and that " * 40
    exc = BadInput("the name is not valid", long_fix)
    assert error_text(exc) == exc.message
    assert error_text(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
