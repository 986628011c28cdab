"""``sailjobs run --retry-failed``: what of the last run is done again, and how.

The run continues under its own run id. Per job, from its row in the run state:

- succeeded: reused as it is (its outputs feed the jobs that need it); so is a job its
  ``if:`` skipped (what the manifest asked for);
- its outcome was success but an action failed (a download, an S3 upload): the failed
  actions run again, the job is not resubmitted (actions that succeeded are not repeated);
- timed out with a Sailthru job_id and no end seen: polled again, not resubmitted;
- its POST may or may not have created it (the ambiguous window) and a second one is not
  harmless (the job type's ``resubmit_safe``, an import): left failed, unless the user
  names it with ``--resubmit JOB``, their word that Sailthru's jobs list has no such job;
- anything else that did not succeed (failed, skipped, an ambiguous export): submitted again.

``--resubmit JOB`` also submits again a succeeded job whose actions failed when a second
one is harmless (an export whose link expired before its download could fetch it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from runner.executor.splitparts import PART_SEPARATOR
from runner.results import JobStatus, skipped_by_condition

if TYPE_CHECKING:
    from runner.executor.state import JobRecord, RunState
    from runner.manifest.planner import Plan


class Retry(Enum):
    REUSE = "reuse"  # succeeded: kept as it is
    RESUBMIT = "resubmit"
    POLL = "poll"  # still running at Sailthru when it timed out
    ACTIONS = "actions"  # succeeded at Sailthru; its failed actions run again
    AMBIGUOUS = "ambiguous"  # may exist at Sailthru; not resubmitted unless named


@dataclass
class RetryPlan:
    """What ``--retry-failed`` does to each job of the run (by manifest job id)."""

    decisions: dict[str, Retry] = field(default_factory=dict)

    def jobs(self, decision: Retry) -> list[str]:
        return [job for job, chosen in self.decisions.items() if chosen is decision]

    @property
    def nothing_to_do(self) -> bool:
        return all(chosen is Retry.REUSE for chosen in self.decisions.values())


def decide(record: JobRecord | None, *, resubmit_safe: bool, named: bool) -> Retry:
    """One job's fate under ``--retry-failed``; ``named``: listed with ``--resubmit``."""
    if record is None:  # new in the manifest since the run: submitted like any job
        return Retry.RESUBMIT
    if record.status is JobStatus.SUCCEEDED or skipped_by_condition(record.status, record.error):
        return Retry.REUSE  # a skip its if: asked for is not a failure to retry
    if record.outcome is JobStatus.SUCCEEDED:
        return Retry.RESUBMIT if named and resubmit_safe else Retry.ACTIONS
    if record.remote_job_id is not None and record.outcome in (JobStatus.TIMED_OUT, None):
        return Retry.POLL  # a job at Sailthru whose end was never seen: asked, not resent
    if record.ambiguous and not resubmit_safe and not named:
        return Retry.AMBIGUOUS
    if not record.status.is_terminal and record.outcome is None:
        # Unfinished (an interrupted run): the resume logic picks it up as it stands.
        return Retry.REUSE
    return Retry.RESUBMIT


def plan_retry(plan: Plan, records: dict[str, JobRecord], named: Collection[str]) -> RetryPlan:
    retry = RetryPlan()
    for job_id, planned in plan.jobs.items():
        retry.decisions[job_id] = decide(
            records.get(job_id),
            resubmit_safe=bool(planned.job_type.resubmit_safe),
            named=job_id in named,
        )
    return retry


def apply_retry(state: RunState, run_id: str, retry: RetryPlan) -> None:
    """Set each job's row up so that resuming the run does what ``retry`` says."""
    for job, chosen in retry.decisions.items():
        if chosen is Retry.RESUBMIT:
            state.reset_for_resubmit(run_id, job, PART_SEPARATOR)
        elif chosen is Retry.POLL:
            state.reset_for_polling(run_id, job)
        elif chosen is Retry.ACTIONS:
            state.reset_for_actions(run_id, job)
