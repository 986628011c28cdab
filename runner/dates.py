"""Dates as people write them in import files (custom signup dates, purchase dates): the one
reading that pre-flight and the sandbox share, so a date pre-flight passes is one the
sandbox imports.

The API reads what PHP's strtotime reads; these are the common forms: ISO 8601 (``T`` or a
space, ``Z``), ``yyyymmdd``, the slash and month-name forms, RFC 2822, and the purchase API
page's own ``2010-02-14 9:30:00 America/New_York``. Epoch seconds only where the API takes
them: not for signup dates ("Date variables cannot be in UNIX", job-api.txt).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final
from zoneinfo import ZoneInfo

FORMATS: Final = (
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%y",
    "%d %B %Y",
    "%d %b %Y",
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
)


def parse_date(text: str, *, allow_epoch: bool) -> datetime | None:
    """``text`` as an aware datetime (UTC when it names no zone), or None.

    Eight digits are ``yyyymmdd``; other digits are epoch seconds, read only when
    ``allow_epoch``.
    """
    moment = _read(text, allow_epoch)
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def is_date(text: str, *, allow_epoch: bool) -> bool:
    """Whether ``parse_date`` reads ``text`` (without building the aware datetime, which
    costs several times the reading itself: pre-flight asks this of every purchase line)."""
    return _read(text, allow_epoch) is not None


def is_epoch(text: str) -> bool:
    """Digits that read as epoch seconds, not as ``yyyymmdd`` (what a signup date may not be)."""
    text = text.strip()
    digits = text.removeprefix("-").replace(".", "", 1)
    return digits.isdigit() and _read(text, allow_epoch=False) is None


def _read(text: str, allow_epoch: bool) -> datetime | None:
    """The date in ``text``, naive when it names no zone."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)  # the common case first: it is the fastest
    except ValueError:
        pass
    if text.isdigit():
        if len(text) == 8 and (day := _strptime(text, "%Y%m%d")) is not None:
            return day
        if not allow_epoch:
            return None
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    for candidate in (text.replace(" ", "T", 1), text.replace("Z", "+00:00")):
        try:
            return datetime.fromisoformat(candidate)
        except ValueError:
            continue
    for pattern in FORMATS:
        if (moment := _strptime(text, pattern)) is not None:
            return moment
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return _zoned(text)


def _strptime(text: str, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


def _zoned(text: str) -> datetime | None:
    """``2010-02-14 9:30:00 America/New_York``: local time, then an IANA zone name."""
    local, _, zone = text.rpartition(" ")
    try:
        return datetime.strptime(local, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None
