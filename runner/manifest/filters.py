"""The filters of the ``${{ }}`` language: pure functions of their input, nothing else.

``${{ run.date | days_ago(7) | yyyymmdd }}`` calls ``days_ago`` then ``yyyymmdd``. A filter
gets the value and its literal arguments; it never reaches files, the network or Python
objects. Add one by adding a ``FilterSpec`` to ``FILTERS`` (the parser checks names, the
number of arguments and their types at validation time).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any


class FilterError(ValueError):
    """A filter got a value it cannot work on (reported as an ExpressionError)."""


def to_text(value: Any) -> str:
    """How a value reads inside text: null is empty, booleans are true/false, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


MISSING: Any = object()  # a reference that is not there, before ``default`` may replace it


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, date):  # datetime is a date too
        return value
    text = str(value)
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise FilterError(f"{name} needs a date (YYYY-MM-DD or YYYYMMDD), got {value!r}")


def _shift(value: Any, days: int, name: str) -> date:
    day = _as_date(value, name)
    try:
        return day + timedelta(days=days)
    except OverflowError:  # past year 1 or 9999 (or a timedelta too big to exist)
        raise FilterError(f"{name}({abs(days)}) leaves the calendar (years 1 to 9999)") from None


def _days_ago(value: Any, days: int) -> date:
    return _shift(value, -days, "days_ago")


def _add_days(value: Any, days: int) -> date:
    return _shift(value, days, "add_days")


def _month_start(value: Any) -> date:
    return _as_date(value, "month_start").replace(day=1)


def _month_end(value: Any) -> date:
    day = _as_date(value, "month_end")
    next_month = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return next_month - timedelta(days=1)


def _yyyymmdd(value: Any) -> str:
    return _as_date(value, "yyyymmdd").strftime("%Y%m%d")


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if not isinstance(value, date):
        value = _as_date(value, "date")
    return value.strftime(fmt)


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is MISSING or value is None or value == "" else value


def _slug(value: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "-", to_text(value).lower()).strip("-")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise FilterError(f"int needs a whole number, got {value!r:.60}") from None


def _join(value: Any, separator: str = ",") -> str:
    if not isinstance(value, list | tuple):
        raise FilterError(f"join needs a list, got {value!r}")
    return separator.join(to_text(item) for item in value)


@dataclass(frozen=True)
class FilterSpec:
    function: Callable[..., Any]
    arg_types: tuple[type, ...]  # the types of its arguments, in order
    required: int  # how many of them must be given
    help: str


FILTERS: dict[str, FilterSpec] = {
    "days_ago": FilterSpec(_days_ago, (int,), 1, "the date n days earlier"),
    "add_days": FilterSpec(_add_days, (int,), 1, "the date n days later (n may be negative)"),
    "month_start": FilterSpec(_month_start, (), 0, "the first day of the date's month"),
    "month_end": FilterSpec(_month_end, (), 0, "the last day of the date's month"),
    "yyyymmdd": FilterSpec(_yyyymmdd, (), 0, "the date as YYYYMMDD (the job API's format)"),
    "date": FilterSpec(_date, (str,), 0, "the date formatted with strftime (default %Y-%m-%d)"),
    "default": FilterSpec(_default, (object,), 1, "a fallback when missing, null or empty"),
    "upper": FilterSpec(lambda v: to_text(v).upper(), (), 0, "upper case"),
    "lower": FilterSpec(lambda v: to_text(v).lower(), (), 0, "lower case"),
    "trim": FilterSpec(lambda v: to_text(v).strip(), (), 0, "without surrounding spaces"),
    "slug": FilterSpec(_slug, (), 0, "lower case, runs of other characters as '-'"),
    "int": FilterSpec(_int, (), 0, "a whole number"),
    "string": FilterSpec(lambda v: to_text(v), (), 0, "as text"),
    "join": FilterSpec(_join, (str,), 0, "a list joined with a separator (default ',')"),
    "json": FilterSpec(lambda v: json.dumps(v, default=str), (), 0, "as JSON text"),
}


def unknown_filter_message(name: str) -> str:
    """``unknown filter 'yyyy_mm_dd'; did you mean 'yyyymmdd'? filters: …``."""
    # Compared in lower case with '_' for '-' and camelCase split: `daysAgo`, `Days-Ago`.
    simple = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower().replace("-", "_")
    close = difflib.get_close_matches(simple, FILTERS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown filter {name!r}; {hint}filters: {', '.join(sorted(FILTERS))}"
