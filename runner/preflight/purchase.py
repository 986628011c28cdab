"""THE purchase format: one line of a purchase_import file (sailthru-api.md §5, job-api.txt).

Defined once, as msgspec Structs, for both the pre-flight check (runner/preflight/checks.py) and the
sandbox's purchase_import worker. msgspec compiles the Structs into a validating decoder
(several times the speed of ``json.loads`` alone, which validates nothing); only a failing line
takes the slow path that turns msgspec's error into a message a user can act on
(``items[0].price: expected an integer number of cents, got "12.99"``). The one rule outside
the Structs, the syntax of ``email`` (runner/emails.py), is checked right after
decoding, by every entry point here.

Decisions where the sources are silent:
- unknown fields are errors everywhere (typos such as ``item`` are caught) except inside
  ``vars``, item ``vars`` and ``cookies``, which take any keys; ``purchase_keys`` holds ``extid``;
- item ``id`` may be a string or an integer (SKUs are often numeric);
- ``date`` must be a non-empty string (the API accepts anything PHP's strtotime understands);
- CR before the newline, a UTF-8 BOM and surrounding whitespace are tolerated; a blank line is
  a problem (the API wants one JSON object per line).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

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


class ImageRef(Struct, forbid_unknown_fields=True):
    url: NonEmptyStr


class Images(Struct, forbid_unknown_fields=True):
    full: ImageRef | UnsetType = UNSET
    thumb: ImageRef | UnsetType = UNSET


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
    # Only extid is supported by the API. Forbidding the rest also means a line that decodes
    # has had every byte of its strings checked as UTF-8 (msgspec skips unknown values).
    extid: NonEmptyStr


class Purchase(Struct, forbid_unknown_fields=True):
    """One purchase as purchase_import takes it: ``date`` and ``purchase_keys.extid`` required."""

    email: Email
    date: NonEmptyStr
    purchase_keys: PurchaseKeys
    items: Annotated[list[PurchaseItem], Meta(min_length=1)]
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
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class PurchaseProblem:
    """Why a line is not a valid purchase: ``path`` like ``items[0].price``, "" for the line."""

    path: str
    message: str

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


def parse_purchase_line(line: bytes) -> Purchase:
    """Decode and validate one line of a purchase_import file, or raise PurchaseFormatError."""
    result = _decode_one(strip_line(line))
    if isinstance(result, PurchaseProblem):
        raise PurchaseFormatError(result)
    return result


def check_purchase_line(line: bytes) -> PurchaseProblem | None:
    """None if the line is a valid purchase, else the first problem found in it."""
    result = _decode_one(strip_line(line))
    return result if isinstance(result, PurchaseProblem) else None


def check_purchase_batch(lines: list[bytes]) -> tuple[list[str], list[tuple[int, PurchaseProblem]]]:
    """Check many lines (without their ``\\n``) at once, with the rules of check_purchase_line:
    the ``purchase_keys.extid`` of each valid line, in order, and ``(index in lines, problem)``
    for the others.

    Faster than a loop of check_purchase_line: the emails of the batch are checked by one regex
    pass over them joined, and only a batch with a bad one is looked at line by line. No
    Purchase is kept: a thousand live ones (lists, dicts) make the garbage collector run
    again and again, which tripled the time of a batch.
    """
    decode = PURCHASE_DECODER.decode
    emails: list[str] = []
    extids: list[str] = []
    problems: list[tuple[int, PurchaseProblem]] = []
    for index, line in enumerate(lines):
        try:
            purchase = decode(line)
        except (msgspec.DecodeError, UnicodeDecodeError):
            problems.append((index, explain_line(line.rstrip(b"\r"))))
            continue
        emails.append(purchase.email)
        extids.append(purchase.purchase_keys.extid)
    if not emails:
        return extids, problems
    joined = "\n".join(emails)
    # An email holding a newline would split in two: count them before trusting the match.
    if joined.count("\n") == len(emails) - 1 and _ALL_EMAILS.fullmatch(joined):
        return extids, problems
    failed = {index for index, _ in problems}
    valid_indexes = [index for index in range(len(lines)) if index not in failed]
    kept = []
    for index, email, extid in zip(valid_indexes, emails, extids, strict=True):
        problem = _email_problem(email)
        if problem is None:
            kept.append(extid)
        else:
            problems.append((index, problem))
    problems.sort(key=lambda item: item[0])
    return kept, problems


def _decode_one(text: bytes) -> Purchase | PurchaseProblem:
    try:
        purchase = PURCHASE_DECODER.decode(text)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return explain_line(text)
    return _email_problem(purchase.email) or purchase


_ALL_EMAILS: Final = re.compile(rf"(?:{EMAIL_BODY}\n)*+{EMAIL_BODY}")  # one per line


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


def explain_line(text: bytes) -> PurchaseProblem:
    """Turn a line that failed to decode into one problem a user can act on."""
    if not text.strip():
        return PurchaseProblem("", "blank line: each line must hold one JSON object; remove it")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = text[error.start]
        return PurchaseProblem(
            "",
            f"not valid UTF-8 (byte 0x{bad:02x} at column {error.start + 1}); "
            "save the file as UTF-8",
        )
    try:
        purchase = PURCHASE_DECODER.decode(text)
    except msgspec.ValidationError as error:
        return _explain_validation(str(error), text)
    except msgspec.DecodeError as error:
        return PurchaseProblem("", _explain_syntax(str(error)))
    problem = _email_problem(purchase.email)
    if problem is None:  # a bug in the caller, not a problem of the line
        raise AssertionError("explain_line called with a valid purchase line")
    return problem


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


def _explain_validation(message: str, text: bytes) -> PurchaseProblem:
    at = _AT.search(message)
    segments = _parse_path(at["path"]) if at else []
    head = message[: at.start()] if at else message
    if found := _MISSING.match(head):
        field = found["field"]
        if not segments and field == "purchase_keys":
            return PurchaseProblem("purchase_keys.extid", "required field is missing")
        return PurchaseProblem(_render_path([*segments, field]), "required field is missing")
    if found := _UNKNOWN.match(head):
        field = found["field"]
        path = _render_path([*segments, field])
        if not segments and field in FORBIDDEN_FIELDS:
            return PurchaseProblem(
                path,
                "not allowed in purchase_import lines (it applies only to purchases recorded "
                "in real time); remove it",
            )
        allowed = ", ".join(_allowed_fields(segments))
        return PurchaseProblem(path, f"unknown field; allowed here: {allowed}")
    path = _render_path(segments)
    value = _value_at(text, segments)
    got = f", got {_preview(value)}" if value is not _MISSING_VALUE else ""
    if not segments and (found := _EXPECTED.match(head)) and found["expected"] == "object":
        if not got and found["got"]:
            got = f", got {_TYPE_WORDS.get(found['got'], found['got'])}"
        return PurchaseProblem("", f"expected one JSON object per line{got}")
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


def _value_at(text: bytes, segments: list[str | int]) -> Any:
    try:
        value = _ANY_DECODER.decode(text)
        for segment in segments:
            value = value[segment]
    except (msgspec.DecodeError, KeyError, IndexError, TypeError):
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
