"""The campaign job types ("Query jobs" in Sailthru's docs): ``blast_query``,
``blast_save_list`` and ``blast_snapshot``. Their rules are the contract's
(runner/sailthru/contract_blasts.py), which the sandbox answers by too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from runner.builtin.jobtypes.once import contract_problems_once
from runner.jobtypes import (
    EXPORT_OUTPUTS,
    CheckContext,
    JobType,
    ParamProblem,
    StrictParams,
    none_done_warning,
)
from runner.sailthru.contract_blasts import SAVED_COUNT_FIELD

BLAST_ID_HELP = "the campaign's id: a whole number, or its digits as text (e.g. 12345678)"
QUERY_HELP = (
    "optional user criteria narrowing the campaign's recipients (Sailthru's query: criteria, "
    "field, value, ... as arrays, one entry per criterion)"
)


class BlastQueryParams(StrictParams):
    blast_id: int | str | None = Field(default=None, description=BLAST_ID_HELP)
    query: dict[str, Any] | None = Field(default=None, description=QUERY_HELP)


class BlastQuery(JobType):
    """Safe to resubmit: an export; a second one only makes a second file."""

    name = "blast_query"
    description = "Export a CSV of a campaign's recipients with their opens and clicks."
    params_model = BlastQueryParams
    outputs = EXPORT_OUTPUTS
    resubmit_safe = True
    produces_export = True
    required_params = ("blast_id",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems_once(self, params)


class BlastSaveListParams(StrictParams):
    blast_id: int | str | None = Field(default=None, description=BLAST_ID_HELP)
    list: str | None = Field(
        default=None, description="the natural list to save the recipients to (created if new)"
    )
    query: dict[str, Any] | None = Field(default=None, description=QUERY_HELP)


class BlastSaveList(JobType):
    """Not safe to resubmit. Adding the same users twice would leave the list as the first
    run left it only if nothing happened in between: a late duplicate adds back every
    recipient removed from the list since (an unsubscribe, a clean-up job), undoing it."""

    name = "blast_save_list"
    description = "Save a campaign's recipients (narrowed by a query) to a natural list."
    params_model = BlastSaveListParams
    required_params = ("blast_id", "list")

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems_once(self, params)

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """A save that selected nobody, when its answer says so (the sandbox's
        ``saved_count``; Sailthru documents no such field)."""
        text = (
            "the job completed but saved nobody to the list: no recipient of the campaign "
            "matched its query"
        )
        return none_done_warning(fields, SAVED_COUNT_FIELD, text)


class BlastSnapshotParams(StrictParams):
    blast_id: int | str | None = Field(default=None, description=BLAST_ID_HELP)
    query: dict[str, Any] | None = Field(default=None, description=QUERY_HELP)


class BlastSnapshot(JobType):
    """Safe to resubmit: it only reads the campaign's data (a second one sends a second
    report). Not an export: the docs do not say what a snapshot returns; its report goes to
    ``report_email`` (a warning when it is missing)."""

    name = "blast_snapshot"
    description = "Generate a snapshot of the analytics of a campaign's recipients."
    params_model = BlastSnapshotParams
    resubmit_safe = True
    required_params = ("blast_id",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems_once(self, params)
