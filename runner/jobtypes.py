"""Sailthru job types (the plugin surface). A job type is one unit: what a job's body may
contain and its local rules, what it produces, whether resubmitting is safe, which of its
files pre-flight checks and how, whether it takes an import slot, whether it deletes data
(and so needs ``confirm: true``), and whether and how ``split: true`` cuts it into parts.
Its sandbox behaviour is a ``JobKind`` of the same name (``sailjobs_sandbox_job_kinds``).

A job type is registered through the ``sailjobs_job_types`` hook; every built-in one
(``runner/builtin/jobtypes/``) uses that same path. The executor and pre-flight read only
these attributes, never a type's name.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from runner.limits import MAX_UPLOAD_BYTES as MAX_UPLOAD_BYTES  # for plugins checking files
from runner.placeholders import is_expression
from runner.preflight.filecheck import EMAILS_FILE as EMAILS_FILE
from runner.preflight.filecheck import PURCHASES_FILE as PURCHASES_FILE
from runner.preflight.filecheck import SIGNUP_DATES_FILE as SIGNUP_DATES_FILE
from runner.preflight.filecheck import FileCheck as FileCheck
from runner.preflight.filecheck import JsonLinesFile as JsonLinesFile
from runner.preflight.filecheck import LineProblem as LineProblem
from runner.sailthru.contract import (
    UPLOAD_FAILED,
    Finding,
    check_payload,
    check_upload_size,
    universal_findings,
)
from runner.sailthru.contract import is_url as is_url  # the plugin surface's name for it
from runner.splitting import DateRangeSplitter as DateRangeSplitter
from runner.splitting import Splitter

# Every job's GET answer has these; the executor exposes them as outputs.
COMMON_OUTPUTS = frozenset({"job_id", "name", "status", "start_time", "end_time"})
EXPORT_OUTPUTS = COMMON_OUTPUTS | {"export_url", "filename"}
# A job with ``split: true`` whose range is split also gives its parts (dates and job_id of
# each) and the joined file: ``export_path`` (a local file, in place of ``export_url``; see
# runner/actions.py), rows, bytes and sha256 (runner/executor/splitparts.py).
SPLIT_OUTPUTS = frozenset({"parts", "export_path", "rows", "bytes", "sha256"})


class JobParams(BaseModel):
    """Base of every job type's parameter model: the API payload without ``job``.

    Unknown keys are errors. ``report_email`` and ``postback_url`` are universal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_email: str | None = Field(
        default=None, description="address Sailthru emails the job's report to"
    )
    postback_url: str | None = Field(
        default=None, description="URL Sailthru calls when the job finishes"
    )


@dataclass(frozen=True)
class ParamProblem:
    """A local check that failed: ``path`` is relative to the job (``("start_date",)``).

    A ``warning`` is shown but does not refuse the job: the API page is silent on the case.
    """

    path: tuple[str | int, ...]
    message: str
    severity: Literal["error", "warning"] = "error"


@dataclass(frozen=True)
class CheckContext:
    """What local checks may look at besides the parameters."""

    manifest_dir: Path  # file parameters are relative to it
    # The job's runner key ``split: true``: a range over the type's limit is cut into parts
    # by its splitter, so the limit does not apply.
    split: bool = False


class JobType(ABC):
    """A Sailthru job type. Subclass, set the class attributes, override ``check`` if needed."""

    name: ClassVar[str]  # the API's ``job`` value
    params_model: ClassVar[type[JobParams]] = JobParams
    outputs: ClassVar[frozenset[str]] = COMMON_OUTPUTS
    # Whether a second submission of the same payload is harmless. Exports are (two
    # identical files); imports are not (duplicate rows, duplicate report emails).
    resubmit_safe: ClassVar[bool] = False
    # Parameters that name a local file sent as the multipart ``file`` part.
    file_params: ClassVar[tuple[str, ...]] = ()
    # Whether the job produces an export (export_url), so ``download`` makes sense after it.
    produces_export: ClassVar[bool] = False
    # Parameters the API requires (shown as required in ``sailjobs schema``; ``check`` says
    # which API error a missing one prevents).
    required_params: ClassVar[tuple[str, ...]] = ()
    # One line for ``sailjobs schema`` and ``sailjobs plan``.
    description: ClassVar[str] = ""
    # How ``split: true`` cuts a job into parts (runner/splitting.py); None: it cannot split.
    splitter: ClassVar[Splitter | None] = None
    # Whether it takes one of the account's import slots (at most five imports run at once,
    # the others wait in "pending"): the executor keeps at most that many in flight.
    import_slot: ClassVar[bool] = False
    # Parameters that hand it email addresses from a file, and what that file must hold:
    # ``plan`` refuses one fed by an export's file (exports hold hashes, never addresses).
    address_sources: ClassVar[Mapping[str, str]] = {}
    # Whether it deletes data in Sailthru: a job of this type must say ``confirm: true``,
    # written into the reviewed manifest, or nothing is sent; ``plan`` marks it.
    destructive: ClassVar[bool] = False

    @property
    def splittable(self) -> bool:
        return self.splitter is not None

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        """Local checks that mirror the API's own errors; values holding ``${{ }}`` are
        skipped here and checked just before submission instead."""
        return iter(())

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        """The local files pre-flight checks before the job is submitted: the parameter that
        names each one, and how it is checked (``JsonLinesFile`` for a plugin's format)."""
        return {}

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """A warning about a job that completed, from its GET answer's fields (an import that
        added nobody); None when there is nothing to say."""
        return None


# --- helpers for a job type's checks -------------------------------------------------------


def none_done_warning(
    fields: Mapping[str, Any], count_field: str, text: str, reason_field: str | None = None
) -> str | None:
    """For ``completion_warning``: ``text`` (with the answer's ``reason_field``, if any) when
    a completed job's answer says, in ``count_field``, that it did nothing (a count of 0; a
    missing field, or a boolean, says nothing); None otherwise."""
    count = fields.get(count_field)
    if count is None or isinstance(count, bool) or str(count).strip() != "0":
        return None
    reason = fields.get(reason_field) if reason_field else None
    return f"{text}: {reason}" if reason else text


def api_error(code: int, message: str) -> str:
    """The suffix naming the API error a local check prevents."""
    return f'(the API would answer error {code} "{message}")'


def finding_problem(finding: Finding) -> ParamProblem:
    """A contract finding as a problem: a refusal is an error naming the API's answer, a
    futile payload (one that can only do nothing) an error, and advice (the API page is
    silent on the case) a warning."""
    if finding.row is None:
        severity: Literal["error", "warning"] = "error" if finding.futile else "warning"
        return ParamProblem(finding.param, finding.detail, severity=severity)
    row = finding.row
    if row.documented:
        message = f"{finding.detail} {api_error(row.code, finding.api_text())}"
    else:
        message = (
            f"{finding.detail} (Sailthru documents no error for this; the sandbox answers "
            f'error {row.code} "{finding.api_text()}")'
        )
    return ParamProblem(finding.param, message)


def contract_problems(job: str, params: dict[str, Any]) -> Iterator[ParamProblem]:
    """The API contract's rules for ``job`` (runner/sailthru/contract.py), the same rules the
    sandbox answers by; values holding ``${{ }}`` wait until they are resolved."""
    for finding in check_payload(job, params, file_given=False, deferred=is_expression):
        yield finding_problem(finding)


def check_universal(params: dict[str, Any]) -> Iterator[ParamProblem]:
    """``report_email`` and ``postback_url``, which every job type accepts."""
    for finding in universal_findings(params, deferred=is_expression):
        yield finding_problem(finding)


def check_local_file(
    params: dict[str, Any], name: str, ctx: CheckContext
) -> Iterator[ParamProblem]:
    """A file parameter: it must exist, be readable, hold data and fit the 1 GB upload limit.

    A path given by an expression is checked just before submission instead.
    """
    value = params.get(name)
    if not isinstance(value, str) or is_expression(value):
        return
    path = ctx.manifest_dir / value
    shown = f"{value!r} (relative to {ctx.manifest_dir.as_posix() or '.'})"
    failed = api_error(UPLOAD_FAILED.code, UPLOAD_FAILED.message)
    try:
        if not path.exists():
            yield ParamProblem((name,), f"file {shown} does not exist {failed}")
            return
        if not path.is_file():
            yield ParamProblem((name,), f"{shown} is not a file {failed}")
            return
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        yield ParamProblem((name,), f"cannot read {shown}: {exc.strerror or exc} {failed}")
        return
    finding = check_upload_size(size)
    if finding is not None:
        yield finding_problem(replace(finding, param=(name,), detail=f"{shown}: {finding.detail}"))


class StrictParams(JobParams):
    """Values as the API takes them: ``yes`` is not ``true``, ``"1"`` is not ``1``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
