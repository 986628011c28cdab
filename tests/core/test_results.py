"""The summary facts every report and plugin reads off the results (rows, status words)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.actions import ActionContext
from runner.results import ActionResult, JobResult, JobStatus, RunResult


def job(status: JobStatus = JobStatus.SUCCEEDED, **extra) -> JobResult:
    return JobResult(run_id="r1", id=f"job-{status}", job_type="import", status=status, **extra)


def run(*jobs: JobResult, interrupted: bool = False) -> RunResult:
    return RunResult(
        run_id="r1",
        manifest_name="nightly",
        manifest_path="nightly.yaml",
        started_at=datetime(2026, 11, 27, tzinfo=UTC),
        jobs={j.id: j for j in jobs},
        interrupted=interrupted,
    )


def context(whole: RunResult, of: JobResult | None) -> ActionContext:
    return ActionContext(run=whole, job=of, workdir=Path(), state_dir=Path(), client=None)


@pytest.mark.parametrize(
    ("outputs", "action_outputs", "rows"),
    [
        ({"rows": 12}, {}, 12),
        ({"row_count": 7}, {}, 7),
        ({}, {"rows": 5}, 5),  # the download action's output
        ({"rows": 3}, {"rows": 5}, 3),  # the job's own output first
        ({"rows": True, "row_count": "9"}, {}, None),  # not counts
        ({}, {}, None),
    ],
)
def test_job_rows(outputs, action_outputs, rows):
    action = ActionResult(
        name="download", plugin="builtin", when="on_success", index=0, outputs=action_outputs
    )
    assert job(outputs=outputs, actions=[action]).rows == rows


@pytest.mark.parametrize(
    ("statuses", "interrupted", "word"),
    [
        ([JobStatus.SUCCEEDED], False, "succeeded"),
        ([], False, "succeeded"),
        ([JobStatus.SUCCEEDED, JobStatus.SKIPPED], False, "failed"),
        ([JobStatus.SUCCEEDED], True, "interrupted"),
    ],
)
def test_run_status_word(statuses, interrupted, word):
    assert run(*(job(s) for s in statuses), interrupted=interrupted).status_word == word


def test_action_context_summarises_its_job_or_the_run():
    failed, ok = job(JobStatus.FAILED), job()
    notify, for_job = context(run(failed, ok), None), context(run(failed, ok), ok)
    assert (notify.jobs, notify.status_word) == ([failed, ok], "failed")
    assert (for_job.jobs, for_job.status_word) == ([ok], "succeeded")


def test_summary_fields_count_the_jobs_the_action_covers():
    failed, ok = job(JobStatus.FAILED), job()
    whole = run(failed, ok)
    assert context(whole, None).summary_fields() == {
        "manifest": "nightly",
        "run_id": "r1",
        "status": "failed",
        "job": "",
        "total": "2",
        "succeeded": "1",
        "failed": "1",
        "date": "2026-11-27",
    }
    assert context(whole, ok).summary_fields() == {
        "manifest": "nightly",
        "run_id": "r1",
        "status": "succeeded",
        "job": ok.id,
        "total": "1",
        "succeeded": "1",
        "failed": "0",
        "date": "2026-11-27",
    }
