"""The contract of the content jobs (``content_update``, ``delete_content``) and of
``list_erase``: their payload rules and the checks of one content item, which the runner's
local checks, pre-flight and the sandbox all read.

Sailthru's pages are thin here (its job API pages and the official clients' tests):

- ``content_update``: only ``file`` is documented (the job API page's file rows name it);
  each line of the file is a content object (the official Ruby client's fixture keys it by
  ``url``). A line names its item as the content API does: ``id`` (by default the page's
  URL) with an optional ``key`` (``url``, the default, or ``sku``), or the legacy ``url``
  the API keeps "for backward compatibility". The field types checked below are the content
  API's; other keys are accepted.
- ``delete_content``: the page describes its options ("delete all content or only expired
  content ... narrow the selection to ... a specified date range") but names NO parameter.
  ``expired_only``, ``start_date`` and ``end_date`` are OUR names, unverified against the
  API. ``expired_only`` is required so that a job always says which mode it wants: if the
  real API ignored a guessed name, a job relying on a default could delete everything.
- ``list_erase``: ``lists``, an array of list names (the official .NET client's test).

No error row below is on Sailthru's page: each is the SANDBOX'S ASSUMPTION (code 99, the
page's code for a job's bad parameter), written as the page writes its own rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Final, TypeGuard

from runner.dates import parse_date
from runner.sailthru.findings import ErrorRow, Finding, PayloadView, Rule, date_range, is_url

# content_update's only rule, its ``file``, is the page's own row: it is in contract.py with
# the other file rows. The rows below are sandbox assumptions (``documented=False``: the
# runner says so), see the module docstring.
MISSING_EXPIRED_ONLY = ErrorRow(
    400, 99, "Missing required parameter: expired_only", ("delete_content",), documented=False
)
INVALID_EXPIRED_ONLY = ErrorRow(
    400, 99, "Invalid expired_only: use true or false", ("delete_content",), documented=False
)
CONTENT_MISSING_DATE = ErrorRow(
    400,
    99,
    "Missing required parameter: start_date,end_date",
    ("delete_content",),
    documented=False,
)
CONTENT_BAD_DATE = ErrorRow(
    400, 99, "Invalid start_date/end_date format", ("delete_content",), documented=False
)
CONTENT_START_AFTER_END = ErrorRow(
    400,
    99,
    "Invalid date range. Start Date cannot be later than End Date",
    ("delete_content",),
    documented=False,
)
MISSING_LISTS = ErrorRow(
    400, 99, "Missing required parameter: lists", ("list_erase",), documented=False
)
INVALID_LISTS = ErrorRow(
    400, 99, "Invalid lists: an array of list names", ("list_erase",), documented=False
)

EXPIRED_ONLY_VALUES: Final = (True, False, 0, 1)
# The answer's fields of a completed delete_content / list_erase in the sandbox (Sailthru
# documents no completed answer for either).
DELETED_COUNT_FIELD: Final = "deleted_count"
ERASED_LISTS_FIELD: Final = "erased_lists"
LISTS_NOT_FOUND_FIELD: Final = "lists_not_found"

# Content API fields whose type is checked in a content_update line; any other key is taken
# as it is (the content API has many fields, and custom ones live in ``vars``).
TEXT_FIELDS: Final = ("title", "description", "author", "site_name", "location")
DATE_FIELDS: Final = ("date", "expire_date")
WHOLE_NUMBER_FIELDS: Final = ("price", "inventory")
# What a line's ``id`` holds, named by its ``key`` (the content API's; ``url`` by default).
CONTENT_ID_KEYS: Final = ("url", "sku")
OBJECT_FIELDS: Final = ("vars", "images", "keys")


def content_item_problems(item: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """What is wrong with one content object (a line of a content_update file), as
    (path inside the object, message); the first one is the line's error."""
    yield from _identity_problems(item)
    for key in TEXT_FIELDS:
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            yield key, f"expected text, got {_shown(value)}"
    tags = item.get("tags")
    if tags is not None and not _is_tags(tags):
        yield "tags", f"expected a list of text or comma-separated text, got {_shown(tags)}"
    for key in DATE_FIELDS:
        value = item.get(key)
        if value is not None and content_date(value) is None:
            yield key, f"{value!r} is not a date; write e.g. 2026-03-31 or 2026-03-31 18:00:00"
    for key in WHOLE_NUMBER_FIELDS:
        value = item.get(key)
        if value is not None and not (_is_int(value) and value >= 0):
            unit = " (price in cents)" if key == "price" else ""
            yield key, f"expected a whole number of 0 or more{unit}, got {value!r}"
    for key in OBJECT_FIELDS:
        value = item.get(key)
        if value is not None and not isinstance(value, dict):
            yield key, f"expected an object of names to values, got {_shown(value)}"
    spider = item.get("spider")
    if spider is not None and (isinstance(spider, bool) or spider not in (0, 1)):
        yield "spider", f"expected 1 (spider the page) or 0, got {spider!r}"


def _identity_problems(item: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """How the line names its item: ``id`` (with ``key``, ``url`` by default) or ``url``."""
    item_id, key, url = item.get("id"), item.get("key"), item.get("url")
    if key is not None and key not in CONTENT_ID_KEYS:
        yield "key", f"expected url or sku (what `id` holds), got {key!r}"
    if _blank(item_id):
        if _blank(url):
            yield "id", "add `id` (the page's URL) or `url`: content is keyed by it"
        elif key is not None:
            yield "key", "`key` says what `id` holds: add `id`, or remove `key`"
    elif key == "sku":
        if not (isinstance(item_id, str) or _is_int(item_id)):
            yield "id", f"with `key: sku`, `id` is the item's SKU (text), got {_shown(item_id)}"
    elif key in (None, "url"):
        if not isinstance(item_id, str) or not is_url(item_id):
            yield (
                "id",
                (
                    f"{item_id!r} is not an http(s) URL: `id` is the page's URL unless `key: sku` "
                    "says it is a SKU (write e.g. https://example.com/page)"
                ),
            )
        elif not _blank(url) and url != item_id:
            yield "url", f"names another page than `id` ({item_id!r}): keep `id`, remove `url`"
    if not _blank(url) and (not isinstance(url, str) or not is_url(url)):
        yield "url", f"{url!r} is not an http(s) URL (write e.g. https://example.com/page)"


def content_id(item: Mapping[str, object]) -> tuple[str, str] | None:
    """How a (valid) line names its item, as (``url`` or ``sku``, the value); None if it
    does not. ``id`` wins over the legacy ``url``; ``key`` is ``url`` by default."""
    item_id, key, url = item.get("id"), item.get("key"), item.get("url")
    if not _blank(item_id) and key in (None, *CONTENT_ID_KEYS):
        return (str(key or "url"), str(item_id))
    if _blank(item_id) and isinstance(url, str) and url:
        return ("url", url)
    return None


def content_key(item: Mapping[str, object]) -> str | None:
    """What identifies a content item (a repeat updates the same item): its key and id, a
    legacy ``url`` counting as ``key: url``."""
    named = content_id(item)
    return None if named is None else f"{named[0]}:{named[1]}"


def _blank(value: object) -> bool:
    return value is None or value == ""


def content_date(value: object) -> datetime | None:
    """A content date (text, or epoch seconds as a number) as an aware datetime, or None."""
    if _is_int(value):
        value = str(value)
    return parse_date(value, allow_epoch=True) if isinstance(value, str) else None


def _is_tags(value: object) -> bool:
    if isinstance(value, list):
        return all(isinstance(tag, str) for tag in value)
    return isinstance(value, str)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object) -> str:
    kinds = {dict: "an object", list: "a list", bool: "true/false", str: "text"}
    kind = kinds.get(type(value), "a number" if isinstance(value, int | float) else "null")
    return f"{kind} ({value!r})"


# --- the rules of each job type ----------------------------------------------------------


def _delete_content(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not view.present("expired_only"):
        yield Finding(
            ("expired_only",),
            "add `expired_only: true` to delete only expired content, or `expired_only: false` "
            "to delete ALL content (in the date range, if given); there is no default",
            MISSING_EXPIRED_ONLY,
        )
    mode = view.known("expired_only")
    if mode is not None and (mode not in EXPIRED_ONLY_VALUES or isinstance(mode, float)):
        yield Finding(
            ("expired_only",),
            f"expected true (only expired content) or false (all content), got {mode!r}",
            INVALID_EXPIRED_ONLY,
        )
    yield from _date_range(view)


def _date_range(view: PayloadView) -> Iterator[Finding]:
    """An optional publish-date range: both ends or neither, yyyymmdd, start <= end."""
    given = [key for key in ("start_date", "end_date") if view.given(key)]
    if len(given) == 1:
        other = "end_date" if given == ["start_date"] else "start_date"
        yield Finding(
            (other,),
            f"add `{other}` too (yyyymmdd): a range needs both ends; without either, the job "
            "deletes regardless of publish date",
            CONTENT_MISSING_DATE,
        )
        return
    findings, _ = date_range(view, CONTENT_BAD_DATE, CONTENT_START_AFTER_END)
    yield from findings


def _list_erase(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not view.given("lists"):
        yield Finding(
            ("lists",), "add `lists`, the names of the lists to erase (a YAML list)", MISSING_LISTS
        )
        return
    names = view.known("lists")
    if names is None:
        return
    if not isinstance(names, list):
        yield Finding(("lists",), lists_not_a_list_message(names), INVALID_LISTS)
        return
    for index, name in enumerate(names):
        if view.deferred(name):
            continue
        if not isinstance(name, str) or not name.strip():
            yield Finding(
                ("lists", str(index)),
                f"a list name is non-empty text, got {name!r}",
                INVALID_LISTS,
            )
    repeated = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if repeated:
        yield Finding(("lists",), f"named more than once: {', '.join(map(repr, repeated))}")


def lists_not_a_list_message(value: object) -> str:
    """``lists`` written as one text (``lists: Old Promo``): the API takes an array."""
    example = value if isinstance(value, str) and value else "Old Promo"
    return f"`lists` is a list of list names, not {_shown(value)}: write `lists: [{example}]`"


RULES: Final[dict[str, Rule]] = {
    "delete_content": _delete_content,
    "list_erase": _list_erase,
}
