"""Sailthru job types: what a job's body may contain, what it produces, whether resubmitting is safe.

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

from pydantic import BaseModel, ConfigDict

# Every job's GET answer has these; the executor exposes them as outputs.
COMMON_OUTPUTS = frozenset({"job_id", "name", "status", "start_time", "end_time"})
EXPORT_OUTPUTS = COMMON_OUTPUTS | {"export_url", "filename"}
MAX_UPLOAD_BYTES = 1024**3  # "Max upload is 1gb"


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

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        """Local checks that mirror the API's own errors; values holding ``${{ }}`` are
        skipped here and checked just before submission instead."""
        return iter(())
