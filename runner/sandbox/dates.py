"""Dates as the sandbox reads them (purchase dates, custom signup dates) and writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_datetime(text: str, allow_epoch: bool = True) -> datetime | None:
    """A date the way users write them: ISO 8601, ``YYYY-MM-DD``, RFC 2822, or epoch seconds.

    The real API accepts whatever PHP's strtotime reads; these are the common forms.
    """
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        if not allow_epoch:
            return None
        return datetime.fromtimestamp(int(text), UTC)
    for candidate in (text, text.replace(" ", "T", 1), text.replace("Z", "+00:00")):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    for pattern in ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
