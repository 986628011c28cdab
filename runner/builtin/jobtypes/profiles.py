"""The profile jobs: ``update`` (a bulk update of user profiles) and ``snapshot`` (the
analytics of the users a query selects). Their rules are the contract's
(runner/sailthru/contract_profiles.py), which the sandbox answers by too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from runner.builtin.jobtypes.once import contract_problems_once
from runner.builtin.jobtypes.seed import EmailsText
from runner.jobtypes import (
    CheckContext,
    FileCheck,
    JobType,
    JsonLinesFile,
    LineProblem,
    ParamProblem,
    StrictParams,
    check_local_file,
    none_done_warning,
)
from runner.sailthru.contract_profiles import (
    UPDATE_COUNT_FIELD,
    UPDATE_WARNING_FIELD,
    line_findings,
    line_user,
)

QUERY_DESCRIPTION = (
    "the users, as an Audience Builder query: source_list, criteria, field, value, ..."
)


class UpdateFile(JsonLinesFile):
    """An update's file: one user per line, ``{"id": "ada@example.com", "vars": {...}}``."""

    kind = "update"
    noun = "profile update"
    duplicate_words = ("repeated user", "repeated users")

    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        for finding in line_findings(value):
            path = ".".join(str(part) for part in finding.param)
            yield LineProblem(path, finding.detail, "error" if finding.futile else "warning")

    def key(self, value: dict[str, Any]) -> str | None:
        if value.get("id") is None and value.get("email") is None:
            return None
        kind, user = line_user(value)
        return f"{kind}:{user.lower() if kind == 'email' else user}"


UPDATE_FILE = UpdateFile()


class UpdateParams(StrictParams):
    emails: EmailsText = Field(default=None, description="comma-separated email addresses")
    url: str | None = Field(
        default=None, description="an http(s) URL of a JSON-lines file, one user per line"
    )
    file: str | None = Field(
        default=None,
        description="a local JSON-lines file, one user per line, relative to the manifest",
    )
    query: dict[str, Any] | None = Field(default=None, description=QUERY_DESCRIPTION)
    update: dict[str, Any] | None = Field(
        default=None,
        description="what every selected user gets: vars (a map), lists (list name: 1 adds, "
        "0 removes), optout (none, basic, blast or all)",
    )


class Update(JobType):
    """Not safe to resubmit. It writes profiles like an import: a second job sends a second
    report email and takes a second import slot, and a set is harmless only against itself:
    anything that changed a profile between the two jobs (another job, a user opting back
    in) is overwritten again by the late duplicate."""

    name = "update"
    description = "Update many user profiles (emails, url, file or query) with vars, lists, optout."
    params_model = UpdateParams
    file_params = ("file",)
    import_slot = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems_once(self, params)
        yield from check_local_file(params, "file", ctx)

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        return {"file": UPDATE_FILE}

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """An update that completed having changed nobody, when its answer says so (the
        sandbox's ``update_count``; Sailthru documents no such field)."""
        text = "the update completed but changed no profile"
        return none_done_warning(fields, UPDATE_COUNT_FIELD, text, UPDATE_WARNING_FIELD)


class SnapshotParams(StrictParams):
    query: dict[str, Any] | None = Field(default=None, description=QUERY_DESCRIPTION)


class Snapshot(JobType):
    """Safe to resubmit: it only reads the account's users (a second job sends a second
    report, and changes nothing)."""

    name = "snapshot"
    description = "A snapshot of the analytics of the users a query selects, sent as a report."
    params_model = SnapshotParams
    resubmit_safe = True
    required_params = ("query",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems_once(self, params)
