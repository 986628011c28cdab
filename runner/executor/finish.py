"""A job's end: its outcome recorded, its action lists run on the actions pool, then DONE.

The scheduling loop decides *when* a job's fate is known (its POST failed, Sailthru said it
ended, it timed out, a job it needs did not succeed); ``JobFinisher`` does what follows, in
the loop thread: record the outcome, hand the job's actions (and a split job's join) to the
actions pool, and when they are done record the job as finished and fire its hook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from runner.durations import format_seconds
from runner.executor.actionlists import (
    ActionEnvironment,
    ActionInterrupted,
    phases_for,
    run_job_actions,
    with_retry,
)
from runner.executor.jobrun import JobRun, Phase
from runner.executor.prepare import PrepareError, job_outputs, remote_error_message, seconds
from runner.executor.splitparts import join_parts
from runner.executor.workpool import TaskDone, WorkPool
from runner.masking import mask
from runner.plugins import job_type_failure
from runner.results import JobStatus, RunResult
from runner.sailthru.jobinfo import SUCCESS_STATUSES

if TYPE_CHECKING:
    from runner.executor.progress import RunObserver
    from runner.plugins import Hooks
    from runner.sailthru.jobinfo import JobInfo


def completion_warning(job: JobRun, info: JobInfo) -> str | None:
    """The job type's warning about a job that completed (an import that added nobody)."""
    job_type = job.planned.job_type
    try:
        warning = job_type.completion_warning(info.fields)
    except Exception as exc:  # a plugin's code: a warning, never a crash on every resume
        return job_type_failure(job_type.name, "completion_warning", exc)
    return None if warning is None else mask(warning)


def submit_failure_message(job: JobRun, error: BaseException, run: RunResult) -> str:
    """Why the job's POST (or the preparation on the HTTP worker) failed, masked."""
    if isinstance(error, PrepareError):
        message = str(error)
    else:
        message = f"could not submit: {error}"
        if type(error).__name__ == "AmbiguousSubmitError":
            job.result.ambiguous = True
            message += f"; {ambiguous_advice(job.planned.job_type.name, job.id, run)}"
    return mask(message)


def ambiguous_advice(job_type: str, job_id: str, run: RunResult) -> str:
    """What to do about a job whose POST may or may not have created it (not resent: a
    second one is not harmless). ``--retry-failed`` alone leaves it alone; naming it
    with ``--resubmit`` is the user's word that Sailthru has no such job."""
    return (
        f"a second {job_type} is not harmless: only if the jobs list in Sailthru has no such "
        f"job, `{run.retry_command(job_id)}` submits it again, with what failed beside it"
    )


def timeout_message(job: JobRun, run: RunResult) -> str:
    remote = job.result.remote_job_id
    return (
        f"timed out after {format_seconds(seconds(job.spec.timeout))}: the Sailthru job "
        f"{remote} may still be running (check it with `sailjobs status {remote}`; "
        f"`{run.retry_command()}` waits for it again, without resubmitting it)"
    )


class JobFinisher:
    """Records each job's outcome, runs its actions, finishes it; loop thread only."""

    def __init__(
        self,
        *,
        action_env: ActionEnvironment,
        actions_pool: WorkPool,
        progress: RunObserver,
        hooks: Hooks,
        on_finished: Callable[[JobRun, JobStatus], None],
    ) -> None:
        self.action_env = action_env
        self.actions_pool = actions_pool
        self.progress = progress
        self.hooks = hooks
        # Told as each job ends (before it is recorded), so the loop can look at readiness.
        self.on_finished = on_finished

    def decide_remote(self, job: JobRun, info: JobInfo) -> None:
        """Sailthru says the job ended (``info``): its outputs, then success or failure."""
        outputs = job_outputs(info, job.result.remote_job_id)
        job.result.outputs.update(outputs)
        if info.status in SUCCESS_STATUSES:
            no_export = not info.export_url and job.parts is None  # split: joined later
            if job.planned.job_type.produces_export and (info.expired or no_export):
                self.decide(
                    job,
                    JobStatus.FAILED,
                    f"the export of Sailthru job {info.job_id} expired before it could be "
                    "downloaded (export links are removed about 2 hours after the job "
                    f"finishes); `{self.action_env.run.retry_command()}` submits it again",
                )
                return
            warning = completion_warning(job, info)
            if warning is not None:
                job.result.warnings.append(warning)
                self.progress.message(f"{job.id}: {warning}", level="warning")
            self.decide(job, JobStatus.SUCCEEDED, None)
            return
        message = remote_error_message(info)
        self.decide(job, JobStatus.FAILED, mask(message))

    def decide(self, job: JobRun, outcome: JobStatus, error: str | None) -> None:
        """The job's fate is known; record it, then run its actions (if any) or finish it."""
        job.outcome = outcome
        job.result.error = error
        self.action_env.state.record_outcome(
            self.action_env.run.run_id,
            job.id,
            outcome,
            remote_status=job.result.remote_status,
            outputs=job.result.outputs,
            error=error,
            polls=job.result.polls,
        )
        self.dispatch_actions(job, outcome)

    def dispatch_actions(self, job: JobRun, outcome: JobStatus) -> None:
        # Provisional, so the actions (an email, a chat message) show the job's duration;
        # ``finish`` sets the final one. Here, not in ``decide``: resumed actions too.
        job.result.finished_at = datetime.now(UTC)
        succeeded = outcome is JobStatus.SUCCEEDED
        lists = [(phase, getattr(job.spec, phase, None) or []) for phase in phases_for(succeeded)]
        join = succeeded and isinstance(job.result.outputs.get("parts"), list)
        if not join and not any(specs for _, specs in lists):
            self.finish(job, outcome, job.result.error)
            return
        job.phase = Phase.ACTING
        retry = job.retry

        def act() -> tuple[JobStatus, str | None]:
            status, error = outcome, job.result.error
            if join:
                try:
                    self._join(job)
                except Exception as exc:
                    again = self.action_env.run.retry_command(job.id)
                    status, error = (
                        JobStatus.FAILED,
                        mask(f"could not join the parts: {exc}; `{again}` submits the job again"),
                    )
            return run_job_actions(self.action_env, job.spec, job.result, status, error, retry)

        self.progress.job_changed(job.result, note="running actions")
        self.actions_pool.submit("actions", job.id, act)

    def _join(self, job: JobRun) -> None:
        """A split job's parts downloaded and joined; offered to its actions as its export,
        a local file (``export_path``, see ``runner.actions``)."""
        parts = job.result.outputs["parts"]
        splitter = job.planned.job_type.splitter
        assert splitter is not None  # only a job its type split has parts
        name = splitter.joined_name(job.id, parts)
        folder = self.action_env.state_dir / "splits" / self.action_env.run.run_id / job.id
        client = with_retry(self.action_env.client, job.retry)
        assert client is not None  # a run's action environment always has its client
        joined = join_parts(client, parts, folder, name)
        job.result.outputs.update(
            export_path=str(joined.path),
            filename=name,
            rows=joined.rows,
            bytes=joined.bytes,
            sha256=joined.sha256,
        )

    def on_acted(self, job: JobRun, event: TaskDone) -> None:
        if isinstance(event.error, ActionInterrupted):
            return  # resumed later: the outcome is recorded, the actions not yet done
        if event.error is not None:
            self.finish(
                job, JobStatus.FAILED, mask(f"internal error while running actions: {event.error}")
            )
            return
        # What ``act`` in ``dispatch_actions`` returns.
        status, error = cast("tuple[JobStatus, str | None]", event.value)
        self.finish(job, status, error)

    def finish(self, job: JobRun, status: JobStatus, error: str | None) -> None:
        if job.phase is Phase.DONE:
            return
        job.phase = Phase.DONE
        result = job.result
        result.status, result.error = status, error
        result.finished_at = datetime.now(UTC)
        self.on_finished(job, status)
        run_id, state = self.action_env.run.run_id, self.action_env.state
        try:
            state.record_finished(
                run_id,
                job.id,
                status,
                outputs=result.outputs,
                error=error,
                polls=result.polls,
                params=result.params or None,
                at=result.finished_at.timestamp(),
            )
            for part in job.parts or ():  # a split job's part rows end with it
                state.record_finished(
                    run_id, job.id + part.state_key, status,
                    outputs=part.describe(), error=None, polls=result.polls,
                )  # fmt: skip
        finally:
            self.progress.job_changed(result)
            self.hooks.job_finished(result)  # a failure is reported by the hooks' on_failure
