"""Email syntax and signup dates: the practical rules of the import checks."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.emails import is_valid_email
from runner.preflight.csvfiles import signup_date_problem

# The same rule written plainly, without possessive quantifiers or a length limit in the regex.
PLAIN = re.compile(r"[^@\s,;]{1,64}@[^@\s.,;]+(?:\.[^@\s.,;]+)+\Z")


@pytest.mark.parametrize(
    "address",
    ["a@b.co", "first.last+tag@mail.example.co.uk", "o'neil@example.com", "ü@exämple.de"],
)
def test_valid_addresses(address: str) -> None:
    assert is_valid_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@localhost",
        "a@@example.com",
        "a@b@example.com",
        "a b@example.com",
        "a@exa mple.com",
        "a@example..com",
        "a@.example.com",
        "a@example.com.",
        "a@example.com\n",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_invalid_addresses(address: str) -> None:
    assert not is_valid_email(address)


@given(st.text(alphabet="ab@. \n\t-", max_size=80) | st.emails())
def test_the_fast_pattern_accepts_exactly_what_the_plain_rule_accepts(address: str) -> None:
    expected = bool(PLAIN.match(address)) and len(address) <= 254
    assert is_valid_email(address) is expected


@pytest.mark.parametrize(
    "value",
    [
        "2016-06-01",
        "2016-06-01 10:30:00",
        "2016-06-01T10:30:00Z",
        "2016/06/01",
        "06/01/2016",
        "June 1, 2016",
        "1 Jun 2016",
        "Wed, 01 Jun 2016 10:30:00 -0400",
        "20160601",
    ],
)
def test_signup_dates_that_parse(value: str) -> None:
    assert signup_date_problem(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1464739200", '"1464739200" looks like a UNIX timestamp, which the API refuses'),
        ("1464739200.5", "looks like a UNIX timestamp"),
        ("20161301", '"20161301" looks like a UNIX timestamp'),
        ("", "empty; write the date as YYYY-MM-DD"),
        ("2016-02-30", '"2016-02-30" is not a date; write it as YYYY-MM-DD'),
        ("soon", '"soon" is not a date'),
    ],
)
def test_signup_dates_refused(value: str, message: str) -> None:
    problem = signup_date_problem(value)
    assert problem is not None and message in problem
