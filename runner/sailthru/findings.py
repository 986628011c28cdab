"""The primitives of the job API's contract: an error table row, what a rule finds, and the
view of a payload rules read. ``runner/sailthru/contract.py`` and the rule modules of each
group of job types (``contract_*.py``) build on them; the sandbox answers by them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit

from runner.emails import comma_fix, is_valid_email, split_emails
from runner.jsontypes import JSONValue
from runner.limits import parse_yyyymmdd


@dataclass(frozen=True)
class ErrorRow:
    """One row of the error table: the HTTP status, the error code and the exact message
    (``{placeholders}`` filled by ``text``), and the job types the page lists it for."""

    http_status: int
    code: int
    message: str
    jobs: tuple[str, ...] = ()
    # False for a row Sailthru's docs do not give: the sandbox answers it, and the runner
    # says it is the sandbox's assumption rather than the API's answer.
    documented: bool = True

    def text(self, **fields: object) -> str:
        return self.message.format(**fields) if fields else self.message


@dataclass(frozen=True)
class Finding:
    """What a rule found: at ``param`` (a path inside the payload; empty for the whole
    payload), ``detail`` says what is wrong and how to fix it. With a ``row`` the API refuses
    the payload with that row (``fields`` fill its placeholders); without one it is advice,
    unless ``futile``."""

    param: tuple[str | int, ...]
    detail: str
    row: ErrorRow | None = None
    fields: Mapping[str, object] = field(default_factory=dict)
    # A payload no documented error refuses but that can only do nothing (an import of no
    # address): the runner refuses it as an error, the sandbox accepts it (and says so).
    futile: bool = False

    @property
    def refused(self) -> bool:
        return self.row is not None

    def api_text(self) -> str:
        """The API's message for this finding (a refusal's only)."""
        assert self.row is not None, "advice has no API message"
        return self.row.text(**self.fields)


def is_url(value: str) -> bool:
    """An absolute http(s) URL with a host (the import's ``url``: error 99 "Invalid URL")."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value
    except ValueError:  # "http://[" (an unclosed IPv6 address), "http://host:port/"
        return False


def never(value: object) -> bool:
    return False


class PayloadView:
    """A payload as the rules read it. A ``deferred`` value (the runner's ``${{ }}``, known
    only at run time) counts as given but is not judged yet."""

    def __init__(self, payload: Mapping[str, JSONValue], deferred: Callable[[object], bool]):
        self._payload = payload
        self.deferred = deferred

    def given(self, key: str) -> bool:
        return self._payload.get(key) not in (None, "", [])

    def present(self, key: str) -> bool:
        return self._payload.get(key) is not None

    def known(self, key: str) -> JSONValue:
        """The value when given and judgeable now; else None."""
        value = self._payload.get(key)
        return None if value is None or self.deferred(value) else value


Rule = Callable[[PayloadView, bool], Iterator[Finding]]


def email_list_findings(view: PayloadView, job: str, effect: str, alone: bool) -> Iterator[Finding]:
    """The findings of an ``emails`` parameter (comma-separated addresses), for the ``import``
    and the ``update`` alike: ``futile`` when ``alone`` (it is the job's only source) and it
    holds no address (the job would do nothing: ``effect``, e.g. "the import would add
    nobody"), advice when some parts are not addresses (the job skips them)."""
    emails = view.known("emails")
    if not isinstance(emails, str) or not emails:
        return
    addresses = split_emails(emails)
    bad = [address for address in addresses if not is_valid_email(address)]
    fix = comma_fix(bad)
    if len(bad) == len(addresses) and alone:  # none ("," alone too)
        shown = ", ".join(repr(e) for e in bad[:3]) or repr(emails)
        yield Finding(
            ("emails",),
            f"no email address in `emails` ({shown}), so {effect}; "
            + (fix or "give comma-separated addresses"),
            futile=True,
        )
    elif bad:
        yield Finding(
            ("emails",),
            f"not email addresses: {', '.join(repr(e) for e in bad[:3])}; "
            + (
                fix
                or f"`emails` is a comma-separated list of addresses, and {job} skips what is "
                "not one"
            ),
        )


def date_range(
    view: PayloadView, bad_date: ErrorRow, start_after_end: ErrorRow
) -> tuple[list[Finding], tuple[date, date] | None]:
    """``start_date`` and ``end_date`` (yyyymmdd, both given): the findings of each value and
    of their order, and the range when both are dates known now and in order."""
    start_value, end_value = view.known("start_date"), view.known("end_date")
    start, end = parse_yyyymmdd(start_value), parse_yyyymmdd(end_value)
    findings = [
        Finding((key,), f"{value!r} is not a yyyymmdd date; write e.g. 20160131", bad_date)
        for key, value, parsed in (("start_date", start_value, start), ("end_date", end_value, end))
        if value is not None and parsed is None
    ]
    if start is None or end is None:
        return findings, None  # a date that is not one, or not known until run time
    if start > end:
        detail = f"start_date {start:%Y%m%d} is after end_date {end:%Y%m%d}; swap them"
        return [*findings, Finding(("start_date",), detail, start_after_end)], None
    return findings, (start, end)
