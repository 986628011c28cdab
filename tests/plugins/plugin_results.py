"""Run results for the plugins' tests: jobs of every outcome and an ActionContext."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.actions import ActionContext
from runner.results import ActionResult, JobResult, JobStatus, RunResult

STARTED = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def make_job(
    job_id: str,
    status: JobStatus = JobStatus.SUCCEEDED,
    *,
    job_type: str = "export_list_data",
    seconds: float | None = 65,
    error: str | None = None,
    outputs: dict[str, Any] | None = None,
    actions: list[ActionResult] | None = None,
) -> JobResult:
    submitted = STARTED + timedelta(seconds=5) if seconds is not None else None
    return JobResult(
        run_id="run-20261127-0600",
        id=job_id,
        job_type=job_type,
        status=status,
        remote_job_id="5843a6b8e1d4a3d7b8a1c2d3" if seconds is not None else None,
        submitted_at=submitted,
        finished_at=submitted + timedelta(seconds=seconds) if submitted and seconds else None,
        outputs=outputs or {},
        error=error,
        actions=actions or [],
    )


def make_run(*jobs: JobResult, interrupted: bool = False) -> RunResult:
    return RunResult(
        run_id="run-20261127-0600",
        manifest_name="nightly-crm",
        manifest_path="manifests/nightly.yaml",
        started_at=STARTED,
        jobs={job.id: job for job in jobs},
        interrupted=interrupted,
    )


def make_context(run: RunResult, job: JobResult | None = None, workdir: Path | None = None):
    workdir = workdir or Path.cwd()
    return ActionContext(
        run=run,
        job=job,
        workdir=workdir,
        state_dir=workdir / ".sailjobs",
        client=None,
        logger=logging.getLogger("sailjobs.action.test"),
    )
