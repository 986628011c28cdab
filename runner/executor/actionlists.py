"""Running a job's (or the run's) action lists: render, validate, retry, record, merge outputs.

Rules:
- a job that succeeded runs ``on_success`` then ``always``; one that failed, timed out or
  whose ``on_success`` action failed runs ``on_failure`` then ``always``; a skipped job runs
  nothing (nothing happened to act on);
- each action's settings are rendered just before it runs, so they see the outputs of the
  actions before it (``${{ jobs.<this job>.outputs.path }}`` after a ``download``);
- an action is tried as the job's ``retry`` says (the run's ``defaults.retry`` for
  ``notify``): ``attempts`` in all (or ``ActionType.attempts`` when the action type sets it,
  e.g. 1 for one that retries by itself) with backoff from ``initial`` up to ``max``, when it
  raises something transient (an exception with ``transient = False`` is not retried); the
  action's ``ctx.client`` uses the same policy for its API calls and downloads;
- a failed action fails its job unless ``continue_on_error: true``; the rest of its list
  is then skipped;
- a succeeded action is recorded in the run state and, on resume, restored (outputs and
  all) instead of run again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from tenacity import RetryCallState

from runner.actions import ActionContext
from runner.executor.state import ActionRecord, RunState
from runner.manifest.conditions import decide, false_reason
from runner.manifest.expressions import render
from runner.masking import mask, mask_data
from runner.plugins import action_types, unknown_action_hint
from runner.results import ActionResult, JobResult, JobStatus, RunResult
from runner.retries import RetryConfig

if TYPE_CHECKING:
    from runner.actions import ActionType
    from runner.jsontypes import JSONDict
    from runner.manifest.expressions import EvalContext
    from runner.manifest.models import ActionSpec, JobSpec
    from runner.sailthru.client import SailthruClient

log = logging.getLogger("sailjobs.actions")

NOTIFY_OWNER = ""  # the owner key of the manifest's notify actions in the run state


class ActionInterrupted(Exception):
    """The run is stopping: the action list stops between attempts, nothing recorded."""


@dataclass
class ActionEnvironment:
    """Everything an action list needs from the run, shared by all jobs."""

    run: RunResult
    state: RunState
    workdir: Path
    state_dir: Path
    client: SailthruClient | None
    stop: threading.Event
    # The expression context for rendering settings, built fresh (outputs change).
    eval_context: Callable[[], EvalContext]
    on_action: Callable[[JobResult | None, ActionResult], None] = lambda job, action: None


# Exceptions that mean a bug in an action rather than a message for the user: their text
# alone ("'path'" for a KeyError) says nothing, so the type is shown with it.
_BUG_EXCEPTIONS = (
    LookupError,
    AttributeError,
    TypeError,
    NameError,
    AssertionError,
    ArithmeticError,
)


def error_text(exc: BaseException) -> str:
    """What an action's exception says to the user (one line, masked by the caller)."""
    text = str(exc)
    if isinstance(exc, _BUG_EXCEPTIONS) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "settings"
        parts.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def run_action_list(
    env: ActionEnvironment,
    phase: str,
    specs: list[ActionSpec],
    *,
    job: JobResult | None,
    retry: RetryConfig,
) -> str | None:
    """Run one list (``specs``: ActionSpec items) in order; the first error, or None.

    A job's list stops at its first failing action (unless ``continue_on_error``); the
    run's ``notify`` list runs every action and reports the first failure."""
    owner = job.id if job is not None else NOTIFY_OWNER
    done = {
        (record.phase, record.idx): record
        for record in env.state.actions(env.run.run_id, owner)
        if record.succeeded
    }
    registered = action_types()
    results = job.actions if job is not None else env.run.actions
    outputs = job.outputs if job is not None else {}
    failure: str | None = None
    for index, spec in enumerate(specs):
        found = registered.get(spec.name)
        result = ActionResult(
            name=spec.name, plugin=found.plugin if found else "?", when=phase, index=index
        )
        previous = done.get((phase, index))
        if previous is not None and previous.name == spec.name:
            result.succeeded, result.attempts, result.resumed = True, previous.attempts, True
            result.outputs = previous.outputs
            result.skipped = previous.error  # a succeeded record's error: why it was skipped
            outputs.update(previous.outputs)
            results.append(result)
            env.on_action(job, result)
            continue
        if env.stop.is_set():
            raise ActionInterrupted
        result.started_at = started = datetime.now(UTC)
        if found is None:
            result.error = unknown_action_hint(spec.name)
        elif not _condition_true(env, spec, result):
            pass  # skipped (its reason in result.skipped) or its if: failed (result.error)
        else:
            _run_one(env, found.action, spec, result, job, retry, render)
        result.finished_at = finished = datetime.now(UTC)
        results.append(result)
        if result.succeeded:
            outputs.update(result.outputs)
        env.state.record_action(
            env.run.run_id,
            owner,
            ActionRecord(
                owner, phase, index, spec.name, result.plugin, result.succeeded,
                result.attempts, result.outputs, result.error or result.skipped,
                started.timestamp(), finished.timestamp(),
            ),
        )  # fmt: skip
        env.on_action(job, result)
        if not result.succeeded and not spec.continue_on_error:
            failure = failure or f"{result.describe_failure()}{result.error}"
            if job is not None:  # a job's later actions may depend on this one: stop
                return failure
            # Notify actions are independent reports: a mail server that is down must
            # not keep the chat post from going out.
    return failure


def _condition_true(env: ActionEnvironment, spec: ActionSpec, result: ActionResult) -> bool:
    """The action's ``if:``, decided just before it would run (it sees the job's outputs).
    False: the action is skipped, which is no failure; unresolvable: the action fails."""
    if spec.condition is None:
        return True
    try:
        run_it = decide(spec.condition, env.eval_context())
    except Exception as exc:  # an expression that cannot be resolved
        result.error = mask(f"cannot resolve its if: {exc}")
        return False
    if not run_it:
        result.succeeded, result.skipped = True, false_reason(spec.condition_text)
    return bool(run_it)


def _run_one(
    env: ActionEnvironment,
    action: ActionType,
    spec: ActionSpec,
    result: ActionResult,
    job: JobResult | None,
    retry: RetryConfig,
    render: Callable[[JSONDict, EvalContext], JSONDict],
) -> None:
    try:
        rendered = render(spec.settings, env.eval_context())
        action.settings_model.register_credentials(rendered)  # before anything can quote one
        settings = action.settings_model.model_validate(
            {**rendered, "continue_on_error": spec.continue_on_error}
        )
    except ValidationError as exc:
        result.error = mask(f"invalid settings: {_validation_message(exc)}")
        return
    except Exception as exc:  # an expression that cannot be resolved
        result.error = mask(f"cannot resolve its settings: {exc}")
        return
    context = ActionContext(
        run=env.run,
        job=job,
        workdir=env.workdir,
        state_dir=env.state_dir,
        client=with_retry(env.client, retry),
        logger=logging.getLogger(f"sailjobs.action.{spec.name}"),
        retry=retry,
    )
    declared = getattr(action, "attempts", None)
    policy = RetryConfig(max(1, int(declared)), retry.initial, retry.max) if declared else retry
    who = job.id if job else "(notify)"

    def attempt() -> JSONDict:
        result.attempts += 1
        return dict(action.run(settings, context) or {})

    def failed(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        result.error = mask(error_text(exc)) if exc is not None else result.error
        log.warning(
            "%s of job %s failed (attempt %d of %d), retrying: %s",
            spec.name, who, state.attempt_number, policy.attempts, result.error,
        )  # fmt: skip

    def pause(delay: float) -> None:
        if env.stop.wait(delay):
            raise ActionInterrupted

    retrying = policy.retrying(
        retry_on=lambda exc: getattr(exc, "transient", True) is not False,
        sleep=pause,
        before_sleep=failed,
    )
    try:
        outputs = retrying(attempt)
    except ActionInterrupted:
        raise
    except Exception as exc:
        result.error = mask(error_text(exc))
        return
    result.succeeded, result.error = True, None
    result.outputs = outputs
    log.debug("%s done: %s", spec.name, mask_data(result.outputs))


def with_retry(client: SailthruClient | None, retry: RetryConfig) -> SailthruClient | None:
    """The run's client with a job's retry policy for its calls and downloads."""
    return client.with_retry(retry) if client is not None else None


def run_job_actions(
    env: ActionEnvironment,
    spec: JobSpec,
    job: JobResult,
    status: JobStatus,
    error: str | None,
    retry: RetryConfig,
) -> tuple[JobStatus, str | None]:
    """A finished job's lists in order; the job's final status and error.

    Succeeded: ``on_success``, and if one of those fails the job fails and ``on_failure``
    runs; failed or timed out: ``on_failure``; then ``always`` in every case.
    """
    # Actions see the outcome so far (an email names the failure), not "running".
    job.status, job.error = status, error
    if status is JobStatus.SUCCEEDED:
        failure = run_action_list(env, "on_success", spec.on_success, job=job, retry=retry)
        if failure is not None:
            status, error = JobStatus.FAILED, failure
            job.status, job.error = status, error
            run_action_list(env, "on_failure", spec.on_failure, job=job, retry=retry)
    else:
        run_action_list(env, "on_failure", spec.on_failure, job=job, retry=retry)
    failure = run_action_list(env, "always", spec.always, job=job, retry=retry)
    if failure is not None and status is JobStatus.SUCCEEDED:
        status, error = JobStatus.FAILED, failure
    return status, error


def phases_for(succeeded: bool) -> tuple[str, ...]:
    return ("on_success", "always") if succeeded else ("on_failure", "always")
