"""The campaign jobs ("Query jobs" in Sailthru's docs): ``blast_query`` (a CSV of a
campaign's recipients with their opens and clicks), ``blast_save_list`` (save them to a
natural list) and ``blast_snapshot`` (a snapshot of their analytics).

Each takes ``blast_id`` (required: the campaign, a number, sent as an int or as digits, as the
official clients and the docs' examples do), and optionally a ``query`` of user criteria
(the docs: campaign queries may "include additional query parameters for users, beyond their
inclusion in the campaign"). ``blast_save_list`` also takes ``list`` (required: the natural
list to save into, created if new).

The docs give no job-specific error texts for these types. What they do give is Sailthru's
generic error 13 "Unknown blast_id", used here for a blast_id that cannot name a campaign.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from runner.sailthru.contract_queries import query_findings
from runner.sailthru.findings import ErrorRow, Finding, PayloadView, Rule

BLAST_JOBS: Final = ("blast_query", "blast_save_list", "blast_snapshot")

# Sandbox assumption: the docs list no error for a missing blast_id; this row follows the job
# API page's row for a missing `list` (400, code 2 "Missing required parameter: ...").
MISSING_BLAST_ID = ErrorRow(
    400, 2, "Missing required parameter: blast_id", BLAST_JOBS, documented=False
)
# Sailthru's generic error 13 (its API responses page); the HTTP status is an assumption.
UNKNOWN_BLAST_ID = ErrorRow(400, 13, "Unknown blast_id", BLAST_JOBS)
# Sandbox assumption, as MISSING_BLAST_ID: the job API page's row for a missing `list`.
MISSING_TARGET_LIST = ErrorRow(
    400, 2, "Missing required parameter: list", ("blast_save_list",), documented=False
)

# Fields of the sandbox's GET answers (Sailthru documents none for these jobs): how many
# recipients a blast_save_list selected and how many of them were new to the list.
SAVED_COUNT_FIELD: Final = "saved_count"
ADDED_COUNT_FIELD: Final = "added_count"

_DIGITS = re.compile(r"[0-9]+")


def blast_id_number(value: object) -> int | None:
    """The campaign id a ``blast_id`` names (an int, or text of digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value) or None
    return None


def _blast_id(view: PayloadView) -> Iterator[Finding]:
    if not view.given("blast_id"):
        yield Finding(
            ("blast_id",),
            "add `blast_id`, the campaign's id (a number, e.g. 12345678)",
            MISSING_BLAST_ID,
        )
        return
    value = view.known("blast_id")
    # Other types (true, a list) are the params model's to report; they name no campaign
    # either, so the sandbox answers them with error 13 when it finds none.
    judged = isinstance(value, str | int) and not isinstance(value, bool)
    if judged and blast_id_number(value) is None:
        yield Finding(
            ("blast_id",),
            f"{value!r} is not a campaign id; a blast_id is a whole number such as 12345678",
            UNKNOWN_BLAST_ID,
        )


def _blast_query(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    yield from _blast_id(view)
    yield from query_findings(view)


def _blast_save_list(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    yield from _blast_id(view)
    name = view.known("list")
    if not view.given("list") or (isinstance(name, str) and not name.strip()):
        yield Finding(
            ("list",),
            "add `list`, the natural list to save the campaign's recipients to (created if new)",
            MISSING_TARGET_LIST,
        )
    elif name is not None and not isinstance(name, str):
        yield Finding(
            ("list",),
            f"`list` is a list's name, not {name!r}: write it as text",
            MISSING_TARGET_LIST,
        )
    yield from query_findings(view)


def _blast_snapshot(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    yield from _blast_id(view)
    yield from query_findings(view)
    if not view.given("report_email"):
        # The docs do not say the snapshot is returned by the job's answer; their example
        # gives report_email, so the report is where the snapshot is read.
        yield Finding(
            ("report_email",),
            "a snapshot's result is its report: add `report_email` so it reaches someone "
            "(the docs do not say that the job's answer holds the snapshot)",
        )


RULES: Final[dict[str, Rule]] = {
    "blast_query": _blast_query,
    "blast_save_list": _blast_save_list,
    "blast_snapshot": _blast_snapshot,
}
