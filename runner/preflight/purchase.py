"""THE purchase format: one line of a purchase_import file (sailthru-api.md §5, job-api.txt).

Defined once, as msgspec Structs, for both the pre-flight check (runner/preflight/checks.py) and the
sandbox's purchase_import worker. msgspec compiles the Structs into a validating decoder
(several times the speed of ``json.loads`` alone, which validates nothing); only a line that
fails it takes the slow path, which either finds that the line is valid once its unknown fields
are set aside (each one a warning) or turns msgspec's error into a message a user can act on
(``items[0].price: expected an integer number of cents, got "12.99"``). The one rule outside
the Structs, the syntax of ``email`` (runner/emails.py), is checked right after decoding, by
every entry point here.

Refused (a problem: the line is invalid), because a source says the API refuses it:
- job-api.txt, purchase_import: one JSON object per line; "date and extid are required";
  ``message_id``, ``incomplete``, ``reminder_template``, ``send_template`` (spelled
  "send_tempate" there) and ``reminder_time`` "should not be included";
- the purchase API (getstarted.sailthru.com/developers/api/purchase/,
  docs.sailthru.com/api/purchase, sailthru-api.md §5): ``email`` and a non-empty ``items`` ("No items in purchase"); each item
  ``qty``, ``title``, ``price`` (cents, one unit), ``id``, ``url``; the types of the documented
  fields: ``tags`` a list of strings, ``vars`` an object, ``images`` ``{"full"|"thumb": {"url"}}``,
  ``adjustments``/``tenders`` lists of ``{"title", "price"}``, ``channel`` online/offline/app.
Accepted, where the sources let a real client send it:
- a top-level ``extid``: sailthru-python-client's ``purchase(..., extid=)`` sends it there; the
  seed's examples use ``purchase_keys.extid``; either one satisfies "extid is required";
- ``qty`` and ``price`` as strings of digits, with a warning: sailthru-java-client's
  ``PurchaseItem`` sends them so (``this.qty = qty.toString()``);
- item ``id`` and ``extid`` as integers (SKUs and order numbers are often numeric).
Warned about (the line stays valid): a field none of those sources documents (the API is not
documented to refuse one, but it is most often a typo); ``vars``, item ``vars`` and ``cookies``
take any keys. ``date`` must be a date in one of the forms runner/dates.py reads (the one
reading the sandbox uses too): the API takes what PHP's strtotime reads, which no other
reader matches, and a date neither side can read ends the job in error on the sandbox, so it
is refused here (``preflight: warn`` sends it anyway). CR before the newline, a UTF-8 BOM and
surrounding whitespace are tolerated; a blank line is a problem (the API wants one JSON object
per line).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from runner.dates import is_date
from runner.emails import EMAIL_BODY, EMAIL_MAX_LENGTH, EMAIL_RE

NonEmptyStr = Annotated[str, Meta(min_length=1)]
# The syntax of ``email`` is checked after decoding (``_email_problem``), for a whole batch of
# lines in one regex pass: as a msgspec pattern it cost a third of the check's time.
Email = Annotated[str, Meta(max_length=EMAIL_MAX_LENGTH)]
# Tenders may carry their price as a string of digits (job-api.txt's second example line).
DigitString = Annotated[str, Meta(pattern=r"^-?[0-9]+$")]

# Fields of the real-time purchase API that a purchase_import line must not carry. job-api.txt
# spells one of them "send_tempate"; the field is send_template.
FORBIDDEN_FIELDS: Final = frozenset(
    {"message_id", "incomplete", "reminder_template", "send_template", "reminder_time"}
)
MAX_LINE_PREVIEW = 40  # characters of an offending value quoted in a message

Severity = Literal["error", "warning"]


class ImageRef(Struct, forbid_unknown_fields=True):
    url: NonEmptyStr


class Images(Struct, forbid_unknown_fields=True):
    full: ImageRef | UnsetType = UNSET
    thumb: ImageRef | UnsetType = UNSET


# Every Struct forbids unknown fields: the fast path then knows that a line that decodes has no
# field to warn about, and that every byte of its strings is valid UTF-8 (msgspec skips the
# values of fields it ignores). Unknown fields are set aside, with a warning, on the slow path.
class PurchaseItem(Struct, forbid_unknown_fields=True):
    qty: int
    title: NonEmptyStr
    price: int  # cents, for one unit
    id: NonEmptyStr | int
    url: NonEmptyStr
    tags: list[str] | UnsetType = UNSET
    vars: dict[str, Any] | UnsetType = UNSET
    images: Images | UnsetType = UNSET
    image: str | UnsetType = UNSET


class PriceLine(Struct, forbid_unknown_fields=True):
    """An adjustment (shipping, discount: negative price) in cents."""

    title: NonEmptyStr
    price: int


class Tender(Struct, forbid_unknown_fields=True):
    title: NonEmptyStr
    price: int | DigitString


class PurchaseKeys(Struct, forbid_unknown_fields=True):
    extid: NonEmptyStr | int | UnsetType = UNSET


class Purchase(Struct, forbid_unknown_fields=True):
    """One purchase as purchase_import takes it: ``date`` and an extid required, the extid in
    ``purchase_keys.extid`` or at the top (see :func:`purchase_extid`)."""

    email: Email
    date: NonEmptyStr
    items: Annotated[list[PurchaseItem], Meta(min_length=1)]
    purchase_keys: PurchaseKeys | UnsetType = UNSET
    extid: NonEmptyStr | int | UnsetType = UNSET
    vars: dict[str, Any] | UnsetType = UNSET
    adjustments: list[PriceLine] | UnsetType = UNSET
    tenders: list[Tender] | UnsetType = UNSET
    channel: Literal["online", "offline", "app"] | UnsetType = UNSET
    cookies: dict[str, Any] | UnsetType = UNSET
    user_agent: str | UnsetType = UNSET
    device_id: str | UnsetType = UNSET
    app_id: str | UnsetType = UNSET


PURCHASE_DECODER: Final = msgspec.json.Decoder(Purchase)
_ANY_DECODER: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class PurchaseProblem:
    """Why a line is not a valid purchase (an ``error``), or what in a valid line deserves a
    look (a ``warning``); ``path`` like ``items[0].price``, "" for the line."""

    path: str
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PurchaseFormatError(ValueError):
    """Raised by :func:`parse_purchase_line`; ``problem`` says what is wrong and where."""

    def __init__(self, problem: PurchaseProblem) -> None:
        self.problem = problem
        super().__init__(problem.render())


def strip_line(line: bytes) -> bytes:
    """The JSON text of a line: without its line ending (LF or CRLF) and a leading BOM."""
    if line.startswith(_BOM):
        line = line[3:]
    return line.rstrip(b"\r\n")


def purchase_extid(purchase: Purchase) -> str | int | None:
    """The purchase's extid: ``purchase_keys.extid`` (the seed's form), else the top-level
    ``extid`` (the Python client's form), else None."""
    keys = purchase.purchase_keys
    if keys and keys.extid is not UNSET:
        return keys.extid
    return None if purchase.extid is UNSET else purchase.extid


def extid_of(purchase: Mapping[str, Any]) -> str:
    """``purchase_extid`` of a purchase in its JSON form (``purchase_to_dict``), as text."""
    keys = purchase.get("purchase_keys") or {}
    return str(keys.get("extid", purchase.get("extid")))


def parse_purchase_line(line: bytes) -> Purchase:
    """Decode and validate one line of a purchase_import file, or raise PurchaseFormatError.
    Unknown fields (warnings) are left out of the Purchase."""
    purchase, problems = _decode_one(strip_line(line))
    if purchase is None:
        raise PurchaseFormatError(next(p for p in problems if p.is_error))
    return purchase


def check_purchase_line(line: bytes) -> PurchaseProblem | None:
    """None if the line is a valid purchase (warnings or not), else the problem found in it."""
    return next((p for p in purchase_line_problems(line) if p.is_error), None)


def purchase_line_problems(line: bytes) -> list[PurchaseProblem]:
    """Everything to say about a line: its one error, or the warnings of a valid line."""
    return _decode_one(strip_line(line))[1]


def check_purchase_batch(
    lines: list[bytes],
) -> tuple[list[str | int], list[tuple[int, PurchaseProblem]]]:
    """Check many lines (without their ``\\n``) at once, with the rules of
    purchase_line_problems: the extid of each valid line, in order, and ``(index in lines,
    problem)`` for the errors and warnings, in line order.

    Faster than a loop of check_purchase_line: the emails of the batch are checked by one regex
    pass over them joined, and only a batch with a bad one is looked at line by line. No
    Purchase is kept: a thousand live ones (lists, dicts) make the garbage collector run
    again and again, which tripled the time of a batch.
    """
    decode = PURCHASE_DECODER.decode
    indexes: list[int] = []
    emails: list[str] = []
    extids: list[str | int] = []
    problems: list[tuple[int, PurchaseProblem]] = []
    for index, line in enumerate(lines):
        try:
            purchase = decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            decoded, found = _decode_slowly(line.rstrip(b"\r"))
            problems += [(index, problem) for problem in found]
            if decoded is None:
                continue
            purchase = decoded
        keys = purchase.purchase_keys
        extid = keys.extid if keys else UNSET
        if extid is UNSET or purchase.extid is not UNSET:  # rare: a top-level extid, or none
            problems += [(index, problem) for problem in _extid_problems(purchase)]
            if (either := purchase_extid(purchase)) is None:
                continue
            extid = either
        if (date_problem := _date_problem(purchase.date)) is not None:
            problems.append((index, date_problem))
            continue
        indexes.append(index)
        emails.append(purchase.email)
        extids.append(extid)
    if not emails:
        return extids, problems
    joined = "\n".join(emails)
    # An email holding a newline would split in two: count them before trusting the match.
    if joined.count("\n") == len(emails) - 1 and _ALL_EMAILS.fullmatch(joined):
        return extids, _in_line_order(problems)
    kept = []
    for index, email, extid in zip(indexes, emails, extids, strict=True):
        problem = _email_problem(email)
        if problem is None:
            kept.append(extid)
        else:
            problems.append((index, problem))
    return kept, _in_line_order(problems)


def _in_line_order(
    problems: list[tuple[int, PurchaseProblem]],
) -> list[tuple[int, PurchaseProblem]]:
    problems.sort(key=lambda item: item[0])  # stable: a line's own problems keep their order
    return problems


def _decode_one(text: bytes) -> tuple[Purchase | None, list[PurchaseProblem]]:
    try:
        purchase = PURCHASE_DECODER.decode(text)
        problems: list[PurchaseProblem] = []
    except (msgspec.DecodeError, UnicodeDecodeError):
        decoded, problems = _decode_slowly(text)
        if decoded is None:
            return None, problems
        purchase = decoded
    problems += _extid_problems(purchase)
    if email_problem := _email_problem(purchase.email):
        problems.append(email_problem)
    if date_problem := _date_problem(purchase.date):
        problems.append(date_problem)
    if any(problem.is_error for problem in problems):
        return None, [problem for problem in problems if problem.is_error][:1]
    return purchase, problems


def _extid_problems(purchase: Purchase) -> list[PurchaseProblem]:
    keys = purchase.purchase_keys
    nested = keys.extid if keys else UNSET
    if nested is UNSET and purchase.extid is UNSET:
        return [
            PurchaseProblem(
                "purchase_keys.extid",
                "required field is missing (purchase_import needs an extid: in purchase_keys, "
                "or a top-level extid)",
            )
        ]
    if nested is not UNSET and purchase.extid is not UNSET and nested != purchase.extid:
        return [
            PurchaseProblem(
                "extid",
                "differs from purchase_keys.extid; the API documents no rule for which one "
                "wins: keep one of them",
                "warning",
            )
        ]
    return []


_ALL_EMAILS: Final = re.compile(rf"(?:{EMAIL_BODY}\n)*+{EMAIL_BODY}")  # one per line


@functools.lru_cache(maxsize=4096)
def _is_purchase_date(text: str) -> bool:
    # Cached: a purchase file repeats its days, thousands of orders each.
    return is_date(text, allow_epoch=True)


def _date_problem(text: str) -> PurchaseProblem | None:
    if _is_purchase_date(text):
        return None
    return PurchaseProblem(
        "date",
        f"{_preview(text)} is not a date sailjobs can read; write it as YYYY-MM-DD, with a "
        "time if you like (2016-06-01 09:30:00, ISO 8601 or RFC 2822)",
    )


def _email_problem(email: str) -> PurchaseProblem | None:
    if EMAIL_RE.match(email):
        return None
    return PurchaseProblem("email", f"expected an email address, got {_preview(email)}")


def purchase_to_dict(purchase: Purchase) -> dict[str, Any]:
    """The purchase as plain JSON-ready data, absent optional fields left out."""
    data: dict[str, Any] = msgspec.to_builtins(purchase)
    return data


# ---------------------------------------------------------------------------------------------
# The slow path: only lines that failed the compiled decoder come here.

_AT = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_EXPECTED = re.compile(r"^Expected `(?P<expected>[^`]+)`(?:, got `(?P<got>[^`]+)`)?")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_ENUM = re.compile(r"^Invalid enum value ")
_BYTE = re.compile(r"\(byte (?P<byte>\d+)\)")
_SEGMENT = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]")
_DIGITS = re.compile(r"-?[0-9]+")

# What a field holds, in words, where "an integer" alone would not say enough.
_FIELD_WORDS: Final = {
    "price": "an integer number of cents",
    "qty": "an integer quantity",
    "email": "an email address",
}
_TYPE_WORDS: Final = {
    "int": "an integer",
    "str": "a string",
    "array": "a list",
    "object": "an object",
    "int | str": "an integer number of cents (or a string of digits)",
    "str | int": "a string or an integer",
}
_STRUCTS_BY_PATH_TAIL: Final[dict[str, type[Struct]]] = {
    "": Purchase,
    "items": PurchaseItem,
    "adjustments": PriceLine,
    "tenders": Tender,
    "images": Images,
    "full": ImageRef,
    "thumb": ImageRef,
    "purchase_keys": PurchaseKeys,
}
# The fields holding documented structures, and which: the rest take any value of their type.
_NESTED: Final[dict[type[Struct], dict[str, type[Struct]]]] = {
    Purchase: {
        "purchase_keys": PurchaseKeys,
        "items": PurchaseItem,
        "adjustments": PriceLine,
        "tenders": Tender,
    },
    PurchaseItem: {"images": Images},
    Images: {"full": ImageRef, "thumb": ImageRef},
}
_LIST_FIELDS: Final = frozenset({"items", "adjustments", "tenders"})
# sailthru-java-client's PurchaseItem sends these as strings of digits; the API takes them.
_DIGIT_STRING_FIELDS: Final = ("qty", "price")


def explain_line(text: bytes) -> PurchaseProblem:
    """The error of a line that is not a valid purchase, in words a user can act on."""
    purchase, problems = _decode_one(text)
    if purchase is not None:  # a bug in the caller, not a problem of the line
        raise AssertionError("explain_line called with a valid purchase line")
    return problems[0]


def _decode_slowly(text: bytes) -> tuple[Purchase | None, list[PurchaseProblem]]:
    """A line the compiled decoder refused: the Purchase once unknown fields are set aside
    (one warning each), or None and the line's error."""
    if not text.strip():
        return None, [
            PurchaseProblem("", "blank line: each line must hold one JSON object; remove it")
        ]
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = text[error.start]
        return None, [
            PurchaseProblem(
                "",
                f"not valid UTF-8 (byte 0x{bad:02x} at column {error.start + 1}); "
                "save the file as UTF-8",
            )
        ]
    try:
        value = _ANY_DECODER.decode(text)
    except RecursionError:
        return None, [PurchaseProblem("", "not valid JSON: nested too deeply to read")]
    except msgspec.DecodeError as error:
        if text.lstrip().startswith(b"["):  # say what it is before how it is broken
            return None, [PurchaseProblem("", "expected one JSON object per line, got a list")]
        return None, [PurchaseProblem("", _explain_syntax(str(error)))]
    if not isinstance(value, dict):
        got = f", got {_preview(value)}"
        return None, [PurchaseProblem("", f"expected one JSON object per line{got}")]
    if forbidden := next((key for key in value if key in FORBIDDEN_FIELDS), None):
        return None, [
            PurchaseProblem(
                forbidden,
                "not allowed in purchase_import lines (it applies only to purchases recorded "
                "in real time); remove it",
            )
        ]
    warnings: list[PurchaseProblem] = []
    _set_aside_unknown(value, Purchase, [], warnings)
    try:
        purchase = PURCHASE_DECODER.decode(_ENCODER.encode(value))
    except msgspec.ValidationError as error:
        return None, [_explain_validation(str(error), value)]
    return purchase, warnings


def _set_aside_unknown(
    value: dict[str, Any],
    struct: type[Struct],
    segments: list[str | int],
    warnings: list[PurchaseProblem],
) -> None:
    """Remove from ``value`` (in place) the fields ``struct`` does not know, one warning each;
    turn the digit strings a real client sends for qty and price into numbers."""
    known = struct.__struct_fields__
    nested = _NESTED.get(struct, {})
    for key in list(value):
        here = [*segments, key]
        if key not in known:
            del value[key]
            warnings.append(
                PurchaseProblem(
                    _render_path(here),
                    "unknown field, not in Sailthru's purchase API documentation: it is "
                    f"uploaded but may be ignored; check its spelling (known here: "
                    f"{', '.join(known)})",
                    "warning",
                )
            )
            continue
        inner, child = nested.get(key), value[key]
        if inner is None:
            continue
        if key in _LIST_FIELDS and isinstance(child, list):
            for index, element in enumerate(child):
                if isinstance(element, dict):
                    _set_aside_unknown(element, inner, [*here, index], warnings)
        elif key not in _LIST_FIELDS and isinstance(child, dict):
            _set_aside_unknown(child, inner, here, warnings)
    if struct is PurchaseItem:
        for name in _DIGIT_STRING_FIELDS:
            digits = value.get(name)
            if isinstance(digits, str) and _DIGITS.fullmatch(digits):
                value[name] = int(digits)
                warnings.append(
                    PurchaseProblem(
                        _render_path([*segments, name]),
                        "a string of digits where the API documents an integer; accepted "
                        "(the official Java client sends it so), but write the number",
                        "warning",
                    )
                )


def _explain_syntax(message: str) -> str:
    if message.startswith("Input data was truncated"):
        return "invalid JSON: the object is cut off before its end"
    found = _BYTE.search(message)
    where = f" at column {int(found['byte']) + 1}" if found else ""
    reason = message.removeprefix("JSON is malformed: ")
    reason = _BYTE.sub("", reason).strip()
    if reason == "trailing characters":
        return f"invalid JSON: text after the object{where}; put one object per line"
    return f"invalid JSON: {reason}{where}"


def _explain_validation(message: str, data: dict[str, Any]) -> PurchaseProblem:
    at = _AT.search(message)
    segments = _parse_path(at["path"]) if at else []
    head = message[: at.start()] if at else message
    if found := _MISSING.match(head):
        return PurchaseProblem(
            _render_path([*segments, found["field"]]), "required field is missing"
        )
    if found := _UNKNOWN.match(head):  # set aside before decoding: only a bug comes here
        path = _render_path([*segments, found["field"]])
        allowed = ", ".join(_allowed_fields(segments))
        return PurchaseProblem(path, f"unknown field; allowed here: {allowed}")
    path = _render_path(segments)
    value = _value_at(data, segments)
    got = f", got {_preview(value)}" if value is not _MISSING_VALUE else ""
    if head.startswith("Expected `array` of length >= 1"):
        return PurchaseProblem(path, 'must not be empty (the API answers "No items in purchase")')
    if _ENUM.match(head):
        return PurchaseProblem(path, f"expected one of online, offline, app{got}")
    if (found := _EXPECTED.match(head)) is None:
        return PurchaseProblem(path, head)
    expected = found["expected"]
    last = next((s for s in reversed(segments) if isinstance(s, str)), "")
    if "matching regex" in head:  # the only pattern left: a tender's price as digits
        return PurchaseProblem(path, f"expected {_TYPE_WORDS['int | str']}{got}")
    if "length >= 1" in head:
        return PurchaseProblem(path, "must not be empty")
    if "length <=" in head:
        limit = head.rsplit("<= ", 1)[-1]
        return PurchaseProblem(path, f"expected at most {limit} characters{got}")
    if expected == "int" and last in _FIELD_WORDS:
        words = _FIELD_WORDS[last]
    else:
        words = _TYPE_WORDS.get(expected, f"a value of type {expected}")
    return PurchaseProblem(path, f"expected {words}{got}")


def _parse_path(dollar_path: str) -> list[str | int]:
    """``$.items[0].price`` → ``["items", 0, "price"]``."""
    segments: list[str | int] = []
    for found in _SEGMENT.finditer(dollar_path[1:]):
        segments.append(int(found["index"]) if found["index"] is not None else found["key"])
    return segments


def _render_path(segments: list[str | int]) -> str:
    text = ""
    for segment in segments:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return text.lstrip(".")


def _allowed_fields(segments: list[str | int]) -> list[str]:
    tail = next((s for s in reversed(segments) if isinstance(s, str)), "")
    struct = _STRUCTS_BY_PATH_TAIL.get(tail, Purchase)
    return list(struct.__struct_fields__)


_MISSING_VALUE: Final = object()


def _value_at(data: Any, segments: list[str | int]) -> Any:
    value = data
    try:
        for segment in segments:
            value = value[segment]
    except (KeyError, IndexError, TypeError):
        return _MISSING_VALUE
    return value


def _preview(value: Any) -> str:
    rendered = json.dumps(value, ensure_ascii=False)
    if len(rendered) > MAX_LINE_PREVIEW:
        rendered = rendered[: MAX_LINE_PREVIEW - 1] + "…"
    if isinstance(value, list):
        return f"a list {rendered}"
    if isinstance(value, dict):
        return f"an object {rendered}"
    return rendered
