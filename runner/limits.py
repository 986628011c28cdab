"""Limits of the job API, each defined once and enforced by the manifest checks, pre-flight,
the executor and the sandbox alike.

A leaf module, free of imports from ``runner``, so that a pre-flight check (and each of its
worker processes) does not load pydantic and the job-type models just to read a number.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

MAX_UPLOAD_BYTES: Final = 1024**3  # "Max upload is 1gb" (job-api.txt, import and purchase_import)
# An API answer is a small JSON object; one larger than this is a broken server or proxy,
# and is refused before it is parsed (an endless answer must not eat the memory).
MAX_API_ANSWER_BYTES: Final = 8 * 1024**2
# An export download's default size limit: the API's 1 GB, plus headroom (the download
# action's ``max_bytes`` changes it).
MAX_DOWNLOAD_BYTES: Final = MAX_UPLOAD_BYTES + MAX_UPLOAD_BYTES // 2
# export_purchase_log: "Invalid date range. Up to 31 days allowed but N given" (job-api.txt).
MAX_DATE_RANGE_DAYS: Final = 31


def parse_yyyymmdd(value: Any) -> date | None:
    """``20160131`` or ``"20160131"`` → a date; anything else (``2016-01-31``) → None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def range_days(start: date, end: date) -> int:
    """The days of an inclusive range: 20240101..20240101 is one day."""
    return (end - start).days + 1


def split_date_range(
    start: date, end: date, max_days: int = MAX_DATE_RANGE_DAYS
) -> list[tuple[date, date]]:
    """``(start, end)`` pairs, both ends included, covering ``start..end`` in order.

    The one rule for long ranges: a range of at most ``max_days`` is one part (itself);
    a longer one is consecutive parts of ``max_days`` days, the last one shorter.

    >>> split_date_range(date(2024, 1, 1), date(2024, 2, 9))
    [(datetime.date(2024, 1, 1), datetime.date(2024, 1, 31)), (datetime.date(2024, 2, 1), datetime.date(2024, 2, 9))]
    """
    if max_days < 1:
        raise ValueError(f"max_days must be at least 1, got {max_days}")
    if start > end:
        raise ValueError(f"the start date {start:%Y%m%d} is after the end date {end:%Y%m%d}")
    ranges = []
    part_start = start
    while part_start <= end:
        part_end = min(part_start + timedelta(days=max_days - 1), end)
        ranges.append((part_start, part_end))
        part_start = part_end + timedelta(days=1)
    return ranges
