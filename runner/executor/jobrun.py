"""One job's live state in a run, and how a resumed run picks it up from the run state."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from runner.executor.splitparts import SplitPart, restore_parts
from runner.executor.state import ActionRecord, JobRecord, to_datetime
from runner.masking import register_url
from runner.results import ActionResult, JobResult, JobStatus, RunResult
from runner.retries import RetryConfig

if TYPE_CHECKING:
    from runner.manifest.models import JobSpec
    from runner.manifest.planner import PlannedJob


class Phase(Enum):
    WAITING = "waiting"
    SUBMITTING = "submitting"
    POLLING = "polling"
    ACTING = "acting"
    DONE = "done"


@dataclass
class JobRun:
    """One job's live state in this process (the loop thread's alone)."""

    planned: PlannedJob
    result: JobResult
    phase: Phase = Phase.WAITING
    # Clock time the first accepted submission started: the job's timeout counts from there.
    submitted_wall: float | None = None
    # When the current submission started: clock time (for the timeout), and wall time.
    submit_started: float | None = None
    submit_started_wall: float | None = None
    next_poll: float = 0.0
    poll_outstanding: bool = False
    outcome: JobStatus | None = None
    resubmitting: bool = False  # ambiguous window of a resubmit-safe job (resume)
    parts: list[SplitPart] | None = None  # split: true: the parts, each its own API job
    needs: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return str(self.planned.id)

    @property
    def spec(self) -> JobSpec:
        return self.planned.spec

    @property
    def retry(self) -> RetryConfig:
        """The job's ``retry`` (its own over ``defaults.retry``): its API calls and actions."""
        return RetryConfig.of(self.spec.retry)

    @property
    def counts_as_import(self) -> bool:
        return self.planned.job_type.import_slot


def restore_job(
    job: JobRun, records: dict[str, JobRecord], actions: list[ActionRecord], run: RunResult
) -> None:
    """Set a job up from its row in the run state of an earlier process of the same run.

    Finished: restored as it ended (its hook was called then). Outcome known: its actions
    come next. A job_id stored: polled, never resubmitted. Intent but no job_id (the process
    died with the POST on the wire): resubmitted if a second one is harmless, else failed
    with an explanation.
    """
    record = records[job.id]
    result = job.result
    job_type = job.planned.job_type
    result.remote_job_id = record.remote_job_id
    result.remote_status = record.remote_status
    result.attempts, result.polls = record.attempts, record.polls
    result.params = record.params
    result.submitted_at = to_datetime(record.submitted_at)
    result.outputs = dict(record.outputs)
    if isinstance(result.outputs.get("export_url"), str):
        register_url(result.outputs["export_url"])
    job.submitted_wall = record.submitted_at
    if record.status.is_terminal:
        result.status, result.error = record.status, record.error
        # Left failed by a retry: still the import that may exist at Sailthru.
        result.ambiguous = (
            record.ambiguous and record.status is JobStatus.FAILED and not job_type.resubmit_safe
        )
        result.finished_at = to_datetime(record.finished_at)
        result.actions.extend(
            ActionResult(
                name=action.name, plugin=action.plugin, when=action.phase, index=action.idx,
                succeeded=action.succeeded, attempts=action.attempts, outputs=action.outputs,
                error=action.error, resumed=True,
            )
            for action in actions
        )  # fmt: skip
        job.phase = Phase.DONE
    elif record.outcome is not None:
        job.outcome, result.error = record.outcome, record.error
        job.phase = Phase.ACTING  # actions pending: the scheduler dispatches them at start
        job.parts = restore_parts(job.id, records, job_type.splitter)
    elif record.remote_job_id is not None:
        job.phase = Phase.POLLING
        result.status = JobStatus.RUNNING
        job.parts = restore_parts(job.id, records, job_type.splitter)
    elif record.ambiguous:
        if job_type.resubmit_safe:
            job.resubmitting = True
        else:
            job.outcome = JobStatus.FAILED
            job.phase = Phase.ACTING
            result.ambiguous = True
            result.error = (
                "sailjobs stopped between sending this job and recording Sailthru's "
                f"answer, so the {job_type.name} job may or may not exist; it "
                "is not resubmitted because a second one would not be harmless. Check "
                "the jobs list in Sailthru and, only if it is not there, "
                f"`{run.retry_command(job.id)}` submits it again, with what failed beside it"
            )
