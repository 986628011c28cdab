"""The scheduling loop: submit ready jobs, poll them, time them out, run their actions.

One loop thread makes every decision and owns every job's state; two bounded pools of HTTP
workers send the POSTs and the GETs, a third small pool runs action lists (downloads), and
all report back through one event queue. POSTs and GETs have their own workers because
Sailthru limits each method on its own (40 POSTs and 300 GETs a minute on /job): a POST
waiting out its budget never holds up the status checks of the jobs already running, nor
a status check the POSTs. No thread per job, so thousands of jobs can be in flight; each
costs about 10 KiB (bench/scheduler.py: 1,000 in flight in 55 MiB).

A job moves WAITING → SUBMITTING → POLLING → ACTING → DONE. It is submitted as soon as
every job it needs has succeeded (its ``${{ }}`` are resolved right then), within the
manifest's ``concurrency`` and at most ``MAX_IMPORTS`` imports at once. A job whose need
did not succeed is skipped with the reason; ``fail_fast`` skips every job not yet sent. A
job's ``if:`` is decided when it is ready: false skips it (and the jobs that need it), which
fails nothing (``runner.manifest.conditions``).
Once a job's fate is known, ``runner.executor.finish.JobFinisher`` records it and runs its actions.
"""

from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.durations import format_seconds
from runner.executor import polling
from runner.executor.actionlists import ActionEnvironment
from runner.executor.finish import JobFinisher, submit_failure_message, timeout_message
from runner.executor.jobrun import JobRun, Phase, restore_job
from runner.executor.prepare import PrepareError, preflight, prepare, seconds
from runner.executor.splitparts import combined_info, poll_parts, split_parts, submit_parts
from runner.executor.state import JobRecord, RunState, to_datetime
from runner.executor.workpool import TaskDone, WorkPool
from runner.manifest.conditions import decide, false_reason, needed_false_reason
from runner.manifest.expressions import EvalContext, ExpressionError
from runner.masking import mask
from runner.plugins import job_type_failure
from runner.results import JobResult, JobStatus, JobSubmitted, RunResult
from runner.sailthru.errors import AmbiguousSubmitError, ApiError
from runner.sailthru.jobinfo import FAILURE_STATUSES, SUCCESS_STATUSES, JobInfo
from runner.sailthru.ratelimit import held_back

if TYPE_CHECKING:
    from runner.executor.progress import Level, RunObserver
    from runner.manifest.models import Manifest
    from runner.manifest.planner import Plan
    from runner.plugins import Hooks
    from runner.retries import RetryConfig
    from runner.sailthru.client import SailthruClient

log = logging.getLogger("sailjobs.run")

MAX_IMPORTS = 5  # "at most 5 import jobs run at once per account"
HTTP_WORKERS = 8  # for the GETs of status checks
# POSTs in progress at once, on their own workers: when the POST budget runs out the client
# waits for the reset, and the polls of the jobs already running go on meanwhile.
MAX_SUBMITTING = HTTP_WORKERS // 2
ACTION_WORKERS = 4
ACTION_GRACE = 10.0  # real seconds an interrupted run waits for running actions
# Real seconds an interrupted run waits for the answers to POSTs already sent. One hung on
# the wire is then left as after a crash: sent, answer unknown (the next run settles it).
SUBMIT_GRACE = 5.0
# Seconds past its deadline a job's status checks may go on being refused by the rate limit
# (429) before it times out anyway: one window of Sailthru's per-minute limit. Without a
# bound, an API or proxy answering 429 forever would keep the run alive forever.
RATE_LIMIT_GRACE = 60.0
MAX_WAIT = 0.25  # real seconds: the loop looks at the stop flag at least this often


def _refused(error: BaseException) -> bool:
    """The API said no to the POST (it answered, or nothing was sent): no job exists. Not
    an ``AmbiguousSubmitError`` (sent, answer lost), nor a failure after the answer (the
    state could not store the job_id: the job exists)."""
    return isinstance(error, ApiError) and not isinstance(error, AmbiguousSubmitError)


@dataclass(frozen=True)
class _Submitted:
    """What a submit task returns: the API's answer (a split job's: one per part), and
    messages for the user."""

    answer: JobInfo | list[JobInfo]
    notes: list[tuple[Level, str]]
    stored_at: float | None = None  # when the worker stored the job_id (epoch seconds)
    held_back: float = 0.0  # real seconds the submission waited for the rate limit


@dataclass(frozen=True)
class _Polled:
    """What a poll task returns: the job's JobInfo, or a split job's parts' (index, JobInfo)."""

    answer: JobInfo | list[tuple[int, JobInfo]]


class Scheduler:
    def __init__(
        self,
        *,
        plan: Plan,
        manifest: Manifest,
        manifest_dir: Path,
        run: RunResult,
        state: RunState,
        client: SailthruClient,
        env: Mapping[str, str],
        progress: RunObserver,
        hooks: Hooks,
        stop: threading.Event,
        state_dir: Path,
        concurrency: int | None = None,
        records: dict[str, JobRecord] | None = None,
        timeouts_from_now: Collection[str] = (),
        clock: polling.Clock | None = None,
        http_workers: int = HTTP_WORKERS,
        action_workers: int = ACTION_WORKERS,
        rng: random.Random | None = None,
    ) -> None:
        self.plan = plan
        self.manifest = manifest
        self.manifest_dir = manifest_dir
        self.run_result = run
        self.state = state
        self.client = client
        # One client view per retry policy (most jobs share the defaults'), not one per call.
        self._clients: dict[RetryConfig, SailthruClient] = {}
        self.env = env
        self.progress = progress
        self.hooks = hooks
        self.stop = stop
        self.concurrency = max(1, concurrency or manifest.concurrency)
        self.clock: polling.Clock = clock or polling.RealClock()
        self.rng = rng or random.Random()
        self.events: queue.Queue[TaskDone] = queue.Queue()
        self.http = WorkPool(http_workers, "http-get", self.events)  # polls
        self.posts = WorkPool(MAX_SUBMITTING, "http-post", self.events)  # submissions
        self.actions_pool = WorkPool(action_workers, "actions", self.events)
        self.jobs: dict[str, JobRun] = {}
        self._poll_heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._readiness_dirty = True
        self._fail_fast_by: str | None = None
        self._next_poll_allowed = 0.0
        self._in_flight = 0
        self._stopped_at: float | None = None
        self._left_unanswered = False  # warned about POSTs left without an answer
        self._imports_in_flight = 0
        self._submitting = 0  # POSTs handed to the HTTP workers, not answered yet
        self.action_env = ActionEnvironment(
            run=run,
            state=state,
            workdir=manifest_dir,
            state_dir=state_dir,
            client=client,
            stop=stop,
            eval_context=self._eval_context,
            on_action=progress.action_done,
        )
        self.finisher = JobFinisher(
            action_env=self.action_env,
            actions_pool=self.actions_pool,
            progress=progress,
            hooks=hooks,
            on_finished=self._job_finished,
        )
        self._restore(records or {})
        for job_id in timeouts_from_now:  # polled again by --retry-failed: a new timeout
            if job_id in self.jobs:
                self.jobs[job_id].submitted_wall = self.clock.time()

    # setup ------------------------------------------------------------------------------

    def _restore(self, records: dict[str, JobRecord]) -> None:
        run_id = self.run_result.run_id
        for job_id, planned in self.plan.jobs.items():
            result = JobResult(
                run_id=run_id, id=job_id, job_type=planned.job_type.name, status=JobStatus.WAITING
            )
            job = JobRun(planned, result, needs=frozenset(self.plan.needs(job_id)))
            self.jobs[job_id] = job
            self.run_result.jobs[job_id] = result
            if job_id in records:
                restore_job(job, records, self.state.actions(run_id, job_id), self.run_result)
            else:
                self.state.add_job(run_id, job_id, planned.job_type.name)

    # the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """Drive every job to DONE (or stop early on ``self.stop``); hooks fire as jobs end."""
        try:
            self._start()
            while not self._finished():
                self._dispatch()
                if self._finished():
                    break
                try:
                    event = self.events.get(timeout=self._wait_seconds())
                except queue.Empty:
                    continue
                self._handle(event)
                while True:
                    try:
                        self._handle(self.events.get_nowait())
                    except queue.Empty:
                        break
        finally:
            self._wrap_up()

    def _start(self) -> None:
        now = self.clock.time()
        for job in self.jobs.values():
            self.progress.job_changed(job.result)
            if job.phase is Phase.POLLING:
                self._enter_flight(job)
                job.next_poll = now
                self._schedule_poll(job, now)
                self._hook_submitted(job, resumed=True)
            elif job.resubmitting:
                self.progress.message(
                    f"{job.id}: the last run stopped while submitting it; resubmitting "
                    f"(a second {job.result.job_type} is harmless)",
                    level="warning",
                )
            elif job.phase is Phase.ACTING and job.outcome is not None:
                self.finisher.dispatch_actions(job, job.outcome)

    def _finished(self) -> bool:
        if self.stop.is_set():
            # Stop submitting. Wait (for a while) for POSTs already sent, so their job_ids
            # are stored, and for running actions, which stop between two actions.
            if self._stopped_at is None:
                self._stopped_at = time.monotonic()
            waited = time.monotonic() - self._stopped_at
            sending = [job for job in self.jobs.values() if job.phase is Phase.SUBMITTING]
            if sending and waited < SUBMIT_GRACE:
                return False
            if sending and not self._left_unanswered:
                self._left_unanswered = True
                for job in sending:
                    self.progress.message(
                        f"{job.id}: no answer to its submission after {SUBMIT_GRACE:g} s; "
                        "stopping without it (the next run settles it, as after a crash)",
                        level="warning",
                    )
            return self.actions_pool.outstanding == 0 or waited >= ACTION_GRACE
        return all(job.phase is Phase.DONE for job in self.jobs.values())

    def _wait_seconds(self) -> float:
        if not self._poll_heap:
            return MAX_WAIT
        # A paced poll waits for its gap as well: waking before it would only spin.
        due = max(self._poll_heap[0][0], self._next_poll_allowed)
        real = self.clock.real_seconds(max(due - self.clock.time(), 0.0))
        return min(max(real, 0.0), MAX_WAIT)

    def _dispatch(self) -> None:
        if self.stop.is_set():
            return
        if self._readiness_dirty:
            self._readiness_dirty = False
            self._dispatch_ready()
        self._dispatch_polls()

    # readiness and submission -----------------------------------------------------------

    def _dispatch_ready(self) -> None:
        for job in self.jobs.values():  # topological order
            if job.phase is not Phase.WAITING:
                continue
            failed_needs = [
                need
                for need in sorted(job.needs)
                if self.jobs[need].phase is Phase.DONE
                and self.jobs[need].result.status is not JobStatus.SUCCEEDED
            ]
            if failed_needs:
                self._skip_for_need(job, failed_needs)
                continue
            if self._fail_fast_by is not None:
                self.finisher.finish(
                    job,
                    JobStatus.SKIPPED,
                    f"fail_fast stopped the run after {self._fail_fast_by!r} failed",
                )
                continue
            if not all(self.jobs[need].phase is Phase.DONE for need in job.needs):
                continue
            if self._in_flight >= self.concurrency:
                continue
            if job.counts_as_import and self._imports_in_flight >= MAX_IMPORTS:
                continue
            if self._submitting >= MAX_SUBMITTING:
                continue
            if self._condition_false(job):
                continue
            self._submit(job)

    def _skip_for_need(self, job: JobRun, failed_needs: list[str]) -> None:
        """Skipped: a job it needs did not succeed. A need skipped by its ``if:`` makes
        this a skip by condition too (as GitHub Actions does), which fails nothing; a
        failure among its needs is told first."""
        needs = [self.jobs[need].result for need in failed_needs]
        need = next((n for n in needs if not n.skipped_by_condition), needs[0])
        if need.skipped_by_condition:
            self.finisher.finish(job, JobStatus.SKIPPED, needed_false_reason(need.id))
            return
        verb = {JobStatus.SKIPPED: "was skipped", JobStatus.TIMED_OUT: "timed out"}.get(
            need.status, "failed"
        )
        self.finisher.finish(job, JobStatus.SKIPPED, f"it needs {need.id!r}, which {verb}")

    def _condition_false(self, job: JobRun) -> bool:
        """Its ``if:``, decided now that its needs are done: false skips it (a reason, no
        failure); one that cannot be resolved fails it."""
        spec = job.spec
        if spec.condition is None:
            return False
        try:
            run_it = decide(spec.condition, self._eval_context())
        except ExpressionError as exc:
            job.result.error = mask(f"cannot resolve its if: {exc}")
            self.finisher.decide(job, JobStatus.FAILED, job.result.error)
            return True
        if run_it:
            return False
        reason = false_reason(spec.condition_text, spec.each)
        self.progress.message(f"{job.id}: skipped, {reason}", level="info")
        self.finisher.finish(job, JobStatus.SKIPPED, reason)
        return True

    def _enter_flight(self, job: JobRun) -> None:
        self._in_flight += 1
        if job.counts_as_import:
            self._imports_in_flight += 1

    def _leave_flight(self, job: JobRun) -> None:
        self._in_flight -= 1
        if job.counts_as_import:
            self._imports_in_flight -= 1
        self._readiness_dirty = True

    def _eval_context(self) -> EvalContext:
        started = self.run_result.started_at
        return EvalContext(
            vars=dict(self.manifest.vars),
            env=self.env,
            run={
                "id": self.run_result.run_id,
                "date": self.run_result.run_date,
                "started_at": started,
            },
            jobs={
                **{
                    job_id: dict(found.outputs) for job_id, found in self.plan.borrowed_from.items()
                },
                **{job_id: dict(job.result.outputs) for job_id, job in self.jobs.items()},
            },
            secret_env=self.manifest.secrets,
        )

    def _submit(self, job: JobRun) -> None:
        try:
            prepared = prepare(job, self._eval_context(), self.manifest_dir)
        except PrepareError as exc:
            job.result.error = mask(str(exc))
            self.finisher.decide(job, JobStatus.FAILED, job.result.error)
            return
        try:
            job.parts = split_parts(job.spec, job.planned.job_type.splitter, prepared.payload)
        except Exception as exc:  # a plugin's splitter: the job fails, the run goes on
            job.result.error = job_type_failure(job.planned.job_type.name, "its splitter", exc)
            self.finisher.decide(job, JobStatus.FAILED, job.result.error)
            return
        for warning in prepared.warnings:
            job.result.warnings.append(warning)
            self.progress.message(f"{job.id}: {warning}", level="warning")
        job.phase = Phase.SUBMITTING
        job.result.status = JobStatus.SUBMITTING
        job.result.params = prepared.masked_params
        job.result.attempts += 1
        job.submit_started, job.submit_started_wall = self.clock.time(), time.time()
        self._submitting += 1
        self._enter_flight(job)
        self.progress.job_changed(job.result)
        run_id, attempts = self.run_result.run_id, job.result.attempts
        resubmit_safe = bool(job.planned.job_type.resubmit_safe)
        raw_params = {k: v for k, v in prepared.payload.items() if k != "job"}
        if prepared.file is not None:
            raw_params["file"] = str(prepared.file)

        client = self._client_for(job)  # the job's retry governs its calls
        splitter = job.planned.job_type.splitter
        if job.parts is not None and splitter is not None:
            parts, job_type_name = job.parts, job.planned.job_type.name

            def send_parts() -> _Submitted:
                self.state.record_intent(run_id, job.id, prepared.masked_params, attempts)
                with held_back() as held:
                    infos = submit_parts(
                        client, self.state, run_id, job.id, job_type_name, parts,
                        prepared.payload, attempts, resubmit_safe,
                    )  # fmt: skip
                return _Submitted(
                    infos,
                    [("note", f"split into {len(parts)} {splitter.unit}")],
                    held_back=held.seconds,
                )

            self.posts.submit("submit", job.id, send_parts)
            return

        def send() -> _Submitted:
            warnings = preflight(job, raw_params, self.manifest_dir)
            # Committed before the POST: a crash from here on is the ambiguous window.
            self.state.record_intent(run_id, job.id, prepared.masked_params, attempts)
            with held_back() as held:
                info = client.submit_job(
                    prepared.payload, file=prepared.file, resubmit_safe=resubmit_safe
                )
            # Stored here, not when the loop gets to the answer: a crash in between must
            # not leave a job that exists in Sailthru looking unsent.
            stored_at = self.state.record_submitted(
                run_id, job.id, info.job_id, info.status, started_at=job.submit_started_wall
            )
            notes: list[tuple[Level, str]] = [("warning", warning) for warning in warnings]
            return _Submitted(info, notes, stored_at, held.seconds)

        self.posts.submit("submit", job.id, send)

    def _on_submitted(self, job: JobRun, event: TaskDone) -> None:
        self._submitting -= 1
        self._readiness_dirty = True  # a submission slot is free again
        if event.error is not None:
            self._leave_flight(job)
            if _refused(event.error):
                self.state.record_refused(self.run_result.run_id, job.id)
            self.finisher.decide(
                job, JobStatus.FAILED, submit_failure_message(job, event.error, self.run_result)
            )
            return
        submitted = event.value_as(_Submitted)
        answer = submitted.answer
        for level, text in submitted.notes:
            if level == "warning":  # pre-flight's: kept for the reports and the summary
                job.result.warnings.append(text)
            self.progress.message(f"{job.id}: {text}", level=level)
        remote_status: str | None
        if isinstance(answer, list):
            assert job.parts is not None  # the answer of submit_parts
            for part, part_info in zip(job.parts, answer, strict=True):
                part.remote_job_id, part.status = part_info.job_id, part_info.status
            remote_id, remote_status = ",".join(p.job_id for p in answer), "pending"
            # The worker stored each part's row; the job's own row is stored here.
            now_wall = self.state.record_submitted(
                self.run_result.run_id,
                job.id,
                remote_id,
                remote_status,
                started_at=job.submit_started_wall,
            )
        else:
            remote_id, remote_status = answer.job_id, answer.status
            # The worker's send() stored the job_id already: the time it stored, so the
            # result and the state (and a report rebuilt from it) agree.
            now_wall = submitted.stored_at or time.time()
        job.result.remote_job_id = remote_id
        job.result.remote_status = remote_status
        job.result.status = JobStatus.RUNNING
        if job.submitted_wall is None:
            # The timeout covers the submission too (retries, a slow answer), not only polls;
            # not the time the runner held it back for the rate limit (its own backlog).
            held = submitted.held_back / self.clock.real_seconds(1.0)
            job.submitted_wall = (job.submit_started or self.clock.time()) + held
            job.result.submitted_at = to_datetime(job.submit_started_wall or now_wall)
        job.phase = Phase.POLLING
        timing = self._timing(job)
        self._schedule_poll(job, self.clock.time() + polling.first_poll_delay(timing))
        self._hook_submitted(job, resumed=False)
        self.progress.job_changed(job.result)

    def _hook_submitted(self, job: JobRun, *, resumed: bool) -> None:
        event = JobSubmitted(
            run_id=self.run_result.run_id,
            id=job.id,
            job_type=job.result.job_type,
            remote_job_id=str(job.result.remote_job_id),
            params=job.result.params,
            submitted_at=job.result.submitted_at or self.run_result.started_at,
            resumed=resumed,
        )
        self.hooks.job_submitted(event)  # a failure is reported by the hooks' on_failure

    # polling ------------------------------------------------------------------------------

    def _timing(self, job: JobRun) -> polling.PollTiming:
        poll = job.spec.poll
        return polling.PollTiming(
            initial=seconds(poll.initial), max=seconds(getattr(poll, "max", poll.initial))
        )

    def _deadline(self, job: JobRun) -> float:
        started = job.submitted_wall if job.submitted_wall is not None else self.clock.time()
        return started + seconds(job.spec.timeout)

    def _schedule_poll(self, job: JobRun, when: float, *, clamp: bool = True) -> None:
        """The next status check at ``when``; by default no later than the job's deadline."""
        if clamp:
            when = min(when, self._deadline(job))
        job.next_poll = when
        self._seq += 1
        heapq.heappush(self._poll_heap, (when, self._seq, job.id))

    def _dispatch_polls(self) -> None:
        now = self.clock.time()
        while self._poll_heap and self._poll_heap[0][0] <= now:
            when, _, job_id = self._poll_heap[0]
            job = self.jobs[job_id]
            if job.phase is not Phase.POLLING or job.poll_outstanding or when != job.next_poll:
                heapq.heappop(self._poll_heap)  # stale entry
                continue
            # At the deadline the job is asked once more, not timed out unasked: only
            # Sailthru's answer says whether it is still running (see _on_polled).
            if now < self._next_poll_allowed:
                break  # the GET budget is low: wait for the pacing gap
            heapq.heappop(self._poll_heap)
            job.poll_outstanding = True
            self.http.submit("poll", job.id, self._poll_task(job))
            self._pace_polls(now)

    def _client_for(self, job: JobRun) -> SailthruClient:
        """The run's client with the job's ``retry``."""
        retry = job.retry
        client = self._clients.get(retry)
        if client is None:
            client = self._clients[retry] = self.client.with_retry(retry)
        return client

    def _poll_task(self, job: JobRun) -> Callable[[], _Polled]:
        """A GET of the job (of each part not completed yet), for an HTTP worker."""
        client = self._client_for(job)  # the job's own retry (manifest)
        parts, remote_job_id = job.parts, str(job.result.remote_job_id)
        if parts is not None:
            return lambda: _Polled(poll_parts(client, parts))
        return lambda: _Polled(client.get_job(remote_job_id))

    def _pace_polls(self, now: float) -> None:
        budget_for = getattr(self.client, "budget_for", None)
        if budget_for is None:
            return
        try:
            budget = budget_for("job", "GET")
        except Exception:  # a budget we cannot read never stops polling
            return
        spacing = polling.budget_spacing(budget, time.time())
        self._next_poll_allowed = now + spacing

    def _on_polled(self, job: JobRun, event: TaskDone) -> None:
        job.poll_outstanding = False
        if job.phase is not Phase.POLLING:
            return
        job.result.polls += 1
        now = self.clock.time()
        timing = self._timing(job)
        elapsed = now - (job.submitted_wall or now)
        if event.error is not None:
            error = event.error
            if polling.rate_limited(error):
                # Not an answer about the job: the runner was held back, the job was not
                # slow. Asked again, even past its deadline, for one rate-limit window.
                if now >= self._deadline(job) + RATE_LIMIT_GRACE:
                    self._time_out(job, rate_limited=True)
                    return
                self.progress.message(
                    f"{job.id}: status check held back by the rate limit; trying again", "info"
                )
                self._schedule_poll(
                    job, now + polling.next_poll_delay(elapsed, timing, self.rng), clamp=False
                )
                return
            if getattr(error, "transient", True) is False:
                self._leave_flight(job)
                self.finisher.decide(
                    job, JobStatus.FAILED, mask(f"could not read the job's status: {error}")
                )
                return
            if now >= self._deadline(job):
                self._time_out(job)  # the last check before the deadline failed: unknown
                return
            self.progress.message(
                f"{job.id}: status check failed ({mask(str(error))}); trying again", "warning"
            )
            self._schedule_poll(job, now + polling.next_poll_delay(elapsed, timing, self.rng))
            return
        answer = event.value_as(_Polled).answer
        if isinstance(answer, JobInfo):
            info = answer
        else:
            assert job.parts is not None  # the answer of poll_parts
            info = combined_info(str(job.result.remote_job_id), job.parts, answer)
        changed = info.status != job.result.remote_status
        job.result.remote_status = info.status
        if info.status in SUCCESS_STATUSES or info.status in FAILURE_STATUSES:
            self._leave_flight(job)
            self.finisher.decide_remote(job, info)
            return
        if changed:
            self.state.record_remote(
                self.run_result.run_id, job.id, remote_status=info.status, polls=job.result.polls
            )
            self.progress.job_changed(job.result)
        if now >= self._deadline(job):
            self._time_out(job)
            return
        delay = polling.next_poll_delay(elapsed, timing, self.rng)
        self._schedule_poll(job, now + delay)
        self.progress.job_polled(job.result, self.clock.real_seconds(delay))

    def _time_out(self, job: JobRun, *, rate_limited: bool = False) -> None:
        self._leave_flight(job)
        message = timeout_message(job, self.run_result)
        if rate_limited:
            message += (
                f"; its status could not be read: the API answered 429 (rate limit) to every "
                f"status check for {format_seconds(RATE_LIMIT_GRACE)} past its timeout"
            )
        self.finisher.decide(job, JobStatus.TIMED_OUT, message)

    # the end ----------------------------------------------------------------------------

    def _job_finished(self, job: JobRun, status: JobStatus) -> None:
        """A job is DONE: the jobs that need it can be looked at; fail_fast may stop the run."""
        self._readiness_dirty = True
        if status in (JobStatus.FAILED, JobStatus.TIMED_OUT) and self.manifest.fail_fast:
            self._fail_fast_by = self._fail_fast_by or job.id

    def _handle(self, event: TaskDone) -> None:
        job = self.jobs.get(event.key)
        if job is None:
            return
        if event.kind == "submit":
            self.posts.done()
            self._on_submitted(job, event)
        elif event.kind == "poll":
            self.http.done()
            self._on_polled(job, event)
        elif event.kind == "actions":
            self.actions_pool.done()
            self.finisher.on_acted(job, event)

    def _wrap_up(self) -> None:
        """Stop the pools. An error that stopped the loop leaves the unfinished jobs as a
        crash would, recorded as they are (a job_id, an intent), for the next run to resume:
        marked failed, they would be lost, and the jobs Sailthru has would be sent again."""
        self.http.shutdown(wait=False)
        self.posts.shutdown(wait=False)
        self.actions_pool.shutdown(wait=False)
