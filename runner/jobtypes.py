"""Sailthru job types (the plugin surface): what a job's body may contain, what it produces,
whether resubmitting is safe.

A job type is registered through the ``sailjobs_job_types`` hook; the five documented in
the job API page (``runner/builtin/jobtypes.py``) use that same path, so a plugin can add
``update``, ``blast_query`` and the rest.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from runner.emails import is_valid_email
from runner.limits import MAX_UPLOAD_BYTES
from runner.placeholders import is_expression

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

    report_email: str | None = None
    postback_url: str | None = None


@dataclass(frozen=True)
class ParamProblem:
    """A local check that failed: ``path`` is relative to the job (``("start_date",)``)."""

    path: tuple[str | int, ...]
    message: str


@dataclass(frozen=True)
class CheckContext:
    """What local checks may look at besides the parameters."""

    manifest_dir: Path  # file parameters are relative to it
    # The job's runner key ``split: true``: an export_purchase_log over 31 days is split
    # into parts by the executor, so the 31-day rule does not apply.
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
    # Whether ``split: true`` may cut its date range into parts (export_purchase_log).
    splittable: ClassVar[bool] = False

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        """Local checks that mirror the API's own errors; values holding ``${{ }}`` are
        skipped here and checked just before submission instead."""
        return iter(())


# --- helpers for a job type's checks -------------------------------------------------------


def api_error(code: int, message: str) -> str:
    """The suffix naming the API error a local check prevents."""
    return f'(the API would answer error {code} "{message}")'


def is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value
    except ValueError:  # "http://[" (an unclosed IPv6 address), "http://host:port/"
        return False


def check_universal(params: dict[str, Any]) -> Iterator[ParamProblem]:
    """``report_email`` and ``postback_url``, which every job type accepts."""
    email = params.get("report_email")
    if isinstance(email, str) and not is_expression(email) and not is_valid_email(email):
        yield ParamProblem(
            ("report_email",), f"{email!r} is not an email address (write name@example.com)"
        )
    url = params.get("postback_url")
    if isinstance(url, str) and not is_expression(url) and not is_url(url):
        yield ParamProblem(
            ("postback_url",),
            f"{url!r} is not an http(s) URL {api_error(99, 'Invalid URL')}",
        )


def check_local_file(
    params: dict[str, Any], name: str, ctx: CheckContext
) -> Iterator[ParamProblem]:
    """A file parameter: it must exist, be readable and fit the 1 GB upload limit.

    A path given by an expression is checked just before submission instead.
    """
    value = params.get(name)
    if not isinstance(value, str) or is_expression(value):
        return
    path = ctx.manifest_dir / value
    shown = f"{value!r} (relative to {ctx.manifest_dir.as_posix() or '.'})"
    try:
        if not path.exists():
            yield ParamProblem(
                (name,),
                f"file {shown} does not exist {api_error(99, 'Failed to upload file')}",
            )
            return
        if not path.is_file():
            yield ParamProblem(
                (name,), f"{shown} is not a file {api_error(99, 'Failed to upload file')}"
            )
            return
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        yield ParamProblem(
            (name,), f"cannot read {shown}: {reason} {api_error(99, 'Failed to upload file')}"
        )
        return
    if size > MAX_UPLOAD_BYTES:
        message = "The size of the file exceeds the maximum upload file size Max upload is 1gb"
        yield ParamProblem(
            (name,), f"{shown} is {size / 1024**3:.2f} GB, over 1 GB {api_error(99, message)}"
        )


class StrictParams(JobParams):
    """Values as the API takes them: ``yes`` is not ``true``, ``"1"`` is not ``1``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
