"""acme-members: ACME's custom Sailthru job ``acme_member_export`` as a sailjobs job type.

The job takes a JSON-lines file of loyalty members, one per line
(``{"member_id": "M-1001", "email": "ann@example.com"}``), and exports a CSV of their
email engagement, keyed by member number. Its rules and error texts are those of the spec
Sailthru gave us for it; the sandbox's version of the job is in acme_members_sandbox.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from runner.emails import is_valid_email
from runner.hookspecs import hookimpl
from runner.jobtypes import (
    EXPORT_OUTPUTS,
    CheckContext,
    FileCheck,
    JobType,
    JsonLinesFile,
    LineProblem,
    ParamProblem,
    StrictParams,
    check_local_file,
)
from runner.placeholders import is_expression

# What ``columns`` may name (the engagement columns of a profile) -> the CSV header.
COLUMNS = {
    "engagement": "Engagement",
    "opens": "Opens",
    "clicks": "Clicks",
    "pageviews": "Pageviews",
    "purchase_count": "Purchase Count",
}
DEFAULT_COLUMNS = ["engagement", "opens", "clicks"]


class MemberExportParams(StrictParams):
    file: str | None = Field(
        default=None, description="a JSON-lines file of members, relative to the manifest"
    )
    columns: list[str] | None = Field(
        default=None,
        description=f"the columns after the member's ids: {', '.join(COLUMNS)} "
        f"(default: {', '.join(DEFAULT_COLUMNS)})",
    )


def column_problems(payload: Mapping[str, Any]) -> Iterator[str]:
    """The job refuses these ``columns``. Shared by ``check`` and the sandbox, so that the
    sandbox refuses exactly what ``sailjobs validate`` reports."""
    columns = payload.get("columns")
    if columns is None or is_expression(columns):
        return
    if columns == []:
        yield "columns is empty; leave it out for the default columns"
    for name in columns:
        if not is_expression(name) and name not in COLUMNS:
            yield f"Unknown column: {name} (the job exports {', '.join(COLUMNS)})"


class MembersFile(JsonLinesFile):
    """One member per line: ``member_id`` (the export's key) and ``email``."""

    kind = "acme_members"
    noun = "member"
    duplicate_words = ("repeated member", "repeated members")

    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        member_id = value.get("member_id")
        if not isinstance(member_id, str) or not member_id.strip():
            yield LineProblem("member_id", "no member_id: the export is keyed by it")
        email = value.get("email")
        if not isinstance(email, str) or not is_valid_email(email.strip()):
            yield LineProblem("email", f"{email!r} is not an email address")
        for key in sorted(value.keys() - {"member_id", "email"}):
            yield LineProblem(key, "not a member field; the job ignores it", "warning")

    def key(self, value: dict[str, Any]) -> str | None:
        email = value.get("email")
        return email.strip().lower() if isinstance(email, str) else None


class MemberExport(JobType):
    """ACME's custom export of its loyalty members' engagement. Safe to resubmit: an export
    changes nothing in the account; a second one only makes a second, identical file."""

    name = "acme_member_export"
    description = "Export the engagement of the members in a JSON-lines file as CSV."
    params_model = MemberExportParams
    # Every field of the job's answer is an output; these are the ones it documents.
    outputs = EXPORT_OUTPUTS | {"members", "matched"}
    resubmit_safe = True
    produces_export = True
    file_params = ("file",)
    required_params = ("file",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        if params.get("file") is None:
            yield ParamProblem((), "file is required: the JSON-lines file of members")
        yield from check_local_file(params, "file", ctx)
        for message in column_problems(params):
            yield ParamProblem(("columns",), message)

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        return {"file": MembersFile()}

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """The export is empty when no member of the file has a profile."""
        if str(fields.get("matched")) != "0":
            return None
        checked = fields.get("members")
        return f"no member of the file has a Sailthru profile ({checked} checked)"


@hookimpl
def sailjobs_job_types() -> list[JobType]:
    return [MemberExport()]


@hookimpl
def sailjobs_sandbox_job_kinds() -> list[Any]:
    # Imported here: the sandbox loads only when one starts, never for `sailjobs validate`.
    from acme_members_sandbox import MemberExportKind

    return [MemberExportKind()]
