"""The purchase format (runner/preflight/purchase.py): valid lines pass, each rule gives its message."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runner.preflight.purchase import (
    FORBIDDEN_FIELDS,
    PurchaseFormatError,
    PurchaseProblem,
    check_purchase_batch,
    check_purchase_line,
    parse_purchase_line,
    purchase_extid,
    purchase_line_problems,
    purchase_to_dict,
)

# The first line of job-api.txt's purchase_import example, abridged to one item.
VALID: dict[str, Any] = {
    "email": "user1@example.com",
    "date": "2016-06-01",
    "purchase_keys": {"extid": "purchase101"},
    "items": [
        {
            "qty": 1,
            "id": "2005",
            "title": "T-Shirts in Black",
            "url": "http://example.com/products/tshirts-black",
            "price": 4000,
            "tags": ["shirts", "under100"],
            "vars": {"sailthru_category": "clothing"},
            "image": "http://example.com/t-shirts.jpg",
        }
    ],
    "vars": {"order_level_var": "abcd1234"},
    "adjustments": [{"price": -5000, "title": "Sale"}],
    "tenders": [{"price": "9998", "title": "Discover"}],
}


def line_with(change: Callable[[dict[str, Any]], object]) -> bytes:
    data = json.loads(json.dumps(VALID))
    change(data)
    return json.dumps(data).encode() + b"\n"


def test_valid_line_parses_to_the_same_data() -> None:
    line = json.dumps(VALID).encode() + b"\n"
    assert check_purchase_line(line) is None
    assert purchase_to_dict(parse_purchase_line(line)) == VALID


def test_job_api_example_lines_are_valid() -> None:
    text = (
        '{"email":"user2@example.com","date":"2016-06-02","purchase_keys":{"extid":"p202"},'
        '"items":[{"qty":2,"id":"2005","title":"T","url":"http://e.com/t","price":4999,'
        '"vars":{"item_level_var":"promotional_item"}}],"tenders":[{"price":"9998",'
        '"title":"Discover"}]}'
    )
    assert check_purchase_line(text.encode()) is None


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda d: d["items"][0].update(price="12.99"),
            "items[0].price",
            'expected an integer number of cents, got "12.99"',
        ),
        (
            lambda d: d["items"][0].update(qty=1.5),
            "items[0].qty",
            "expected an integer quantity, got 1.5",
        ),
        (lambda d: d["items"][0].update(qty=True), "items[0].qty", "got true"),
        (lambda d: d["items"][0].pop("url"), "items[0].url", "required field is missing"),
        (lambda d: d.pop("date"), "date", "required field is missing"),
        (lambda d: d.pop("purchase_keys"), "purchase_keys.extid", "required field is missing"),
        (
            lambda d: d["purchase_keys"].pop("extid"),
            "purchase_keys.extid",
            "required field is missing",
        ),
        (lambda d: d.update(items=[]), "items", "No items in purchase"),
        (lambda d: d.update(items={}), "items", "expected a list, got an object {}"),
        (lambda d: d.update(email="nobody"), "email", 'expected an email address, got "nobody"'),
        (lambda d: d.update(channel="web"), "channel", "expected one of online, offline, app"),
        (
            lambda d: d["tenders"][0].update(price="9.99"),
            "tenders[0].price",
            'expected an integer number of cents (or a string of digits), got "9.99"',
        ),
        (
            lambda d: d["adjustments"][0].update(price=-50.5),
            "adjustments[0].price",
            "expected an integer number of cents, got -50.5",
        ),
        (lambda d: d["items"][0].update(title=""), "items[0].title", "must not be empty"),
        (lambda d: d["items"][0].update(qty="1.5"), "items[0].qty", 'got "1.5"'),
        (lambda d: d["items"][0].update(tags="shoes,black"), "items[0].tags", "expected a list"),
        (lambda d: d["items"][0].update(tags=[1]), "items[0].tags[0]", "expected a string"),
        (lambda d: d["items"][0].update(vars=[]), "items[0].vars", "expected an object"),
        (lambda d: d.update(vars="x"), "vars", "expected an object"),
        (lambda d: d.pop("email"), "email", "required field is missing"),
        (lambda d: d.pop("items"), "items", "required field is missing"),
        (lambda d: d["items"][0].pop("id"), "items[0].id", "required field is missing"),
        (lambda d: d["items"][0].pop("title"), "items[0].title", "required field is missing"),
        # an unknown field is set aside, so the error after it is still found
        (
            lambda d: d.update(itemz=[], date=20160601),
            "date",
            "expected a string, got 20160601",
        ),
    ],
)
def test_each_rule_names_the_field_and_says_what_is_wrong(
    change: Callable[[dict[str, Any]], object], path: str, message: str
) -> None:
    problem = check_purchase_line(line_with(change))
    assert problem is not None
    assert problem.path == path
    assert message in problem.message


@pytest.mark.parametrize("field", sorted(FORBIDDEN_FIELDS))
def test_realtime_only_fields_are_forbidden(field: str) -> None:
    problem = check_purchase_line(line_with(lambda d: d.update({field: "x"})))
    assert problem == PurchaseProblem(
        field,
        "not allowed in purchase_import lines (it applies only to purchases recorded in "
        "real time); remove it",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "blank line: each line must hold one JSON object; remove it"),
        (b"  \r\n", "blank line: each line must hold one JSON object; remove it"),
        (b'{"email": ', "invalid JSON: the object is cut off before its end"),
        (b'{"email" "a@b.co"}', "invalid JSON: expected ':' at column 10"),
        (b"[1, 2]", "expected one JSON object per line, got a list [1, 2]"),
        (b"[\n", "expected one JSON object per line, got a list"),
        (
            b'{"email":"caf\xe9@b.co"}',
            "not valid UTF-8 (byte 0xe9 at column 14); save the file as UTF-8",
        ),
    ],
)
def test_lines_that_are_not_one_json_object(line: bytes, message: str) -> None:
    assert check_purchase_line(line) == PurchaseProblem("", message)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d.update(itemz=[]), "itemz", "unknown field, not in Sailthru's purchase API"),
        (lambda d: d["items"][0].update(colour="red"), "items[0].colour", "known here: qty, title"),
        (lambda d: d["purchase_keys"].update(sid="x"), "purchase_keys.sid", "known here: extid"),
        (lambda d: d["items"][0].update(images={"zoom": {}}), "items[0].images.zoom", "full"),
        (lambda d: d["items"][0].update(qty="2"), "items[0].qty", "a string of digits"),
        (lambda d: d["items"][0].update(price="4000"), "items[0].price", "a string of digits"),
        (lambda d: d.update(extid="other"), "extid", "differs from purchase_keys.extid"),
    ],
)
def test_what_the_api_is_not_documented_to_refuse_is_a_warning(
    change: Callable[[dict[str, Any]], object], path: str, message: str
) -> None:
    line = line_with(change)
    assert check_purchase_line(line) is None
    [warning] = purchase_line_problems(line)
    assert (warning.path, warning.severity) == (path, "warning")
    assert message in warning.message
    assert parse_purchase_line(line).items  # and the sandbox imports it


def test_digit_strings_are_read_as_numbers() -> None:
    line = line_with(lambda d: d["items"][0].update(qty="2", price="4000"))
    item = parse_purchase_line(line).items[0]
    assert (item.qty, item.price) == (2, 4000)


def test_unknown_fields_are_left_out_of_the_parsed_purchase() -> None:
    line = line_with(lambda d: (d.update(currency="USD"), d["items"][0].update(sku="X")))
    data = purchase_to_dict(parse_purchase_line(line))
    assert "currency" not in data and "sku" not in data["items"][0]


def test_a_top_level_extid_is_the_python_clients_form() -> None:
    # sailthru-python-client: purchase(email, items, ..., extid="order-9") puts extid at the top
    line = line_with(lambda d: (d.pop("purchase_keys"), d.update(extid="order-9")))
    assert purchase_line_problems(line) == []
    assert purchase_extid(parse_purchase_line(line)) == "order-9"
    extids, problems = check_purchase_batch([line.rstrip(b"\n")])
    assert (extids, problems) == (["order-9"], [])


def test_an_extid_in_neither_place_is_refused() -> None:
    line = line_with(lambda d: d.update(purchase_keys={}))
    problem = check_purchase_line(line)
    assert problem is not None and problem.path == "purchase_keys.extid"
    assert "top-level extid" in problem.message


def test_forbidden_fields_are_refused_even_beside_unknown_ones() -> None:
    problem = check_purchase_line(line_with(lambda d: d.update(colour="red", incomplete=1)))
    assert problem is not None and problem.path == "incomplete"


def test_crlf_and_bom_are_tolerated() -> None:
    line = b"\xef\xbb\xbf" + json.dumps(VALID).encode() + b"\r\n"
    assert check_purchase_line(line) is None
    assert parse_purchase_line(line).purchase_keys.extid == "purchase101"


def test_parse_raises_with_the_problem() -> None:
    with pytest.raises(PurchaseFormatError) as caught:
        parse_purchase_line(line_with(lambda d: d["items"][0].update(price="12.99")))
    assert caught.value.problem.path == "items[0].price"
    assert str(caught.value) == 'items[0].price: expected an integer number of cents, got "12.99"'


def test_long_values_are_shortened_in_messages() -> None:
    problem = check_purchase_line(line_with(lambda d: d.update(email="x" * 500)))
    assert problem is not None
    assert len(problem.message) < 80
    assert problem.message.endswith("…")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["email", "items", "qty", "price", "x"]), children, max_size=3
        )
    ),
    max_leaves=10,
)


@given(st.binary(max_size=200))
def test_any_bytes_give_none_or_one_problem(line: bytes) -> None:
    problem = check_purchase_line(line)
    assert problem is None or problem.message


@given(json_values)
def test_any_json_gives_a_problem_with_a_message(value: object) -> None:
    problem = check_purchase_line(json.dumps(value).encode())
    assert problem is not None and problem.message


@given(
    field=st.sampled_from(
        ["email", "date", "purchase_keys", "items", "vars", "channel", "tenders"]
    ),
    value=json_values,
)
def test_any_value_in_a_valid_line_is_accepted_or_explained(field: str, value: object) -> None:
    line = line_with(lambda d: d.update({field: value}))
    problem = check_purchase_line(line)
    if problem is None:
        assert parse_purchase_line(line)
    else:
        assert problem.path.startswith(field) and problem.message
        with pytest.raises(PurchaseFormatError):
            parse_purchase_line(line)


def valid_line(number: int, email: str | None = None) -> bytes:
    return line_with(
        lambda d: d.update(
            email=f"user{number}@example.com" if email is None else email,
            purchase_keys={"extid": str(number)},
        )
    ).rstrip(b"\n")


def test_batch_finds_bad_emails_among_good_ones() -> None:
    lines = [valid_line(0), b"{", valid_line(2, "no-at-sign"), valid_line(3), valid_line(4, "")]
    extids, problems = check_purchase_batch(lines)
    assert extids == ["0", "3"]
    assert problems == [
        (1, PurchaseProblem("", "invalid JSON: the object is cut off before its end")),
        (2, PurchaseProblem("email", 'expected an email address, got "no-at-sign"')),
        (4, PurchaseProblem("email", 'expected an email address, got ""')),
    ]


def test_an_email_with_a_newline_cannot_hide_in_the_batch() -> None:
    # Joined, "a@b.co\nc@d.co" reads as two good lines; the batch must still refuse it.
    lines = [valid_line(0), valid_line(1, "a@b.co\nc@d.co")]
    extids, problems = check_purchase_batch(lines)
    assert extids == ["0"]
    assert problems == [
        (1, PurchaseProblem("email", 'expected an email address, got "a@b.co\\nc@d.co"'))
    ]


@given(
    st.lists(
        st.one_of(
            st.integers(0, 99).map(valid_line),
            st.text(max_size=12).map(lambda email: valid_line(7, email or "x")),
            st.binary(max_size=20),
        ),
        max_size=12,
    )
)
def test_batch_agrees_with_line_by_line(lines: list[bytes]) -> None:
    # The scanner hands over lines without their newline, and strips the file's BOM itself.
    lines = [line.replace(b"\n", b" ") for line in lines]
    assume(not any(line.startswith(b"\xef\xbb\xbf") for line in lines))
    extids, problems = check_purchase_batch(lines)
    expected = [(i, check_purchase_line(line)) for i, line in enumerate(lines)]
    assert problems == [(i, p) for i, p in expected if p is not None]
    valid = [parse_purchase_line(lines[i]) for i, p in expected if p is None]
    assert extids == [purchase.purchase_keys.extid for purchase in valid]
