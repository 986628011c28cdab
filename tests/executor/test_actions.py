"""Action lists run by the executor: retries, failures, continue_on_error, outputs, notify,
and resume without repeating a finished action."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from typing import Any, ClassVar

import pytest
from executor_helpers import manifest_text

from runner.actions import ActionContext, ActionSettings, ActionType
from runner.executor.lifecycle import exit_code_for, run
from runner.exitcodes import ExitCode
from runner.hookspecs import hookimpl
from runner.results import JobStatus


class PermanentError(Exception):
    transient = False


class ProbeSettings(ActionSettings):
    key: str
    value: str = ""
    fail_times: int = 0
    permanent: bool = False
    interrupt: bool = False
    bug: bool = False


class ProbeAction(ActionType):
    """Fails ``fail_times`` times, then echoes ``value``; counts its calls per key."""

    name: ClassVar[str] = "probe"
    settings_model: ClassVar[type[ActionSettings]] = ProbeSettings
    outputs: ClassVar[frozenset[str]] = frozenset(
        {"echo", "tries", "job_status", "job_error", "job_seconds"}
    )
    attempts: ClassVar[int] = 3
    calls: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        with self.lock:
            self.calls[settings.key] += 1
            tries = self.calls[settings.key]
        if settings.bug:
            return {"echo": ctx.job.outputs["no-such-output"]}  # a plugin's bug: KeyError
        if tries <= settings.fail_times:
            if settings.permanent:
                raise PermanentError(f"{settings.key} cannot work")
            raise RuntimeError(f"{settings.key} flaked")
        if settings.interrupt:
            os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl-C came right after this action
            time.sleep(0.5)  # the handler runs in the main thread: let it see the signal
        job = ctx.job
        seen = (
            {"job_status": job.status, "job_error": job.error, "job_seconds": job.duration_seconds}
            if job is not None
            else {}
        )
        return {"echo": settings.value, "tries": tries, **seen}


class ProbePlugin:
    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [ProbeAction()]


@pytest.fixture(autouse=True)
def probe() -> type[ProbeAction]:
    from runner.plugins import get_plugin_manager

    ProbeAction.calls.clear()
    get_plugin_manager().register(ProbePlugin(), name="probe-plugin")
    return ProbeAction


def test_outputs_feed_later_actions_and_later_jobs(sandbox, run_jobs) -> None:
    result = run_jobs("""
        first:
          job: export_scheduled_sends
          on_success:
            - probe: {key: one, value: "${{ jobs.first.outputs.job_id }}"}
            - probe: {key: two, value: "again-${{ jobs.first.outputs.echo }}"}
        second:
          job: import
          list: "${{ jobs.first.outputs.echo }}"
          emails: someone@example.com
    """)
    first = result.jobs["first"]
    assert first.status is JobStatus.SUCCEEDED
    assert [a.outputs["echo"] for a in first.actions] == [
        first.remote_job_id, f"again-{first.remote_job_id}",
    ]  # fmt: skip
    # Later actions' outputs win: the job's outputs carry the last echo.
    assert first.outputs["echo"] == f"again-{first.remote_job_id}"
    assert sandbox.submissions("import")[0]["list"] == f"again-{first.remote_job_id}"


def test_transient_failures_are_retried_then_succeed(run_jobs) -> None:
    result = run_jobs("""
        a:
          job: export_scheduled_sends
          on_success:
            - probe: {key: flaky, fail_times: 2}
    """)
    (action,) = result.jobs["a"].actions
    assert action.succeeded and action.attempts == 3 and action.outputs["tries"] == 3
    assert result.succeeded


def test_a_failing_action_fails_its_job_runs_on_failure_and_always_and_skips_dependents(
    run_jobs,
) -> None:
    result = run_jobs("""
        a:
          job: export_scheduled_sends
          on_success:
            - probe: {key: broken, fail_times: 9}
            - probe: {key: never-reached}
          on_failure:
            - probe: {key: on-failure}
          always:
            - probe: {key: always}
        b:
          job: export_scheduled_sends
          needs: [a]
    """)
    job = result.jobs["a"]
    assert job.status is JobStatus.FAILED
    assert job.error == (
        "action 'probe' of plugin 'probe-plugin' (on_success #1) failed: broken flaked"
    )
    assert ProbeAction.calls == Counter({"broken": 3, "on-failure": 1, "always": 1})
    assert [(a.when, a.succeeded) for a in job.actions] == [
        ("on_success", False), ("on_failure", True), ("always", True),
    ]  # fmt: skip
    assert result.jobs["b"].status is JobStatus.SKIPPED
    assert exit_code_for(result) == ExitCode.JOB_FAILED


def test_actions_see_the_outcome_so_far_not_a_running_job(run_jobs) -> None:
    result = run_jobs("""
        a:
          job: export_scheduled_sends
          on_success:
            - probe: {key: first}
            - probe: {key: broken, fail_times: 9, permanent: true}
          on_failure:
            - probe: {key: after-failure}
    """)
    first, _broken, after = result.jobs["a"].actions
    assert (first.outputs["job_status"], first.outputs["job_error"]) == (JobStatus.SUCCEEDED, None)
    assert first.outputs["job_seconds"] >= 0  # a provisional end: the job's duration is known
    assert after.outputs["job_status"] is JobStatus.FAILED
    assert after.outputs["job_error"] == (
        "action 'probe' of plugin 'probe-plugin' (on_success #2) failed: broken cannot work"
    )


def test_continue_on_error_keeps_the_job_and_permanent_errors_are_not_retried(run_jobs) -> None:
    result = run_jobs("""
        a:
          job: export_scheduled_sends
          on_success:
            - probe: {key: nope, fail_times: 9, permanent: true, continue_on_error: true}
            - probe: {key: after, value: fine}
    """)
    job = result.jobs["a"]
    assert job.status is JobStatus.SUCCEEDED
    failed, after = job.actions
    assert (failed.succeeded, failed.attempts, failed.error) == (False, 1, "nope cannot work")
    assert after.succeeded and job.outputs["echo"] == "fine"


def test_notify_runs_on_failure_and_always_and_a_failing_notify_exits_1(sandbox, run_jobs) -> None:
    sandbox.faults.error_next_jobs(1)
    result = run_jobs(
        """
        a:
          job: export_scheduled_sends
        """,
        header="""
        notify:
          on_success:
            - probe: {key: notify-success}
          on_failure:
            - probe: {key: notify-failure}
          always:
            - probe: {key: notify-always, fail_times: 9, permanent: true}
        """,
    )
    assert ProbeAction.calls == Counter({"notify-failure": 1, "notify-always": 1})
    assert [(a.when, a.succeeded) for a in result.actions] == [
        ("on_failure", True), ("always", False),
    ]  # fmt: skip
    assert exit_code_for(result) == ExitCode.JOB_FAILED


def test_a_failing_notify_alone_makes_the_exit_code_1(run_jobs) -> None:
    result = run_jobs(
        "a:\n  job: export_scheduled_sends\n",
        header="notify:\n  always:\n    - probe: {key: n, fail_times: 9, permanent: true}\n",
    )
    assert result.succeeded
    assert exit_code_for(result) == ExitCode.JOB_FAILED


def test_every_notify_action_runs_even_after_one_fails(run_jobs) -> None:
    result = run_jobs(
        "a:\n  job: export_scheduled_sends\n",
        header=(
            "notify:\n  always:\n"
            "    - probe: {key: mail-down, fail_times: 9, permanent: true}\n"
            "    - probe: {key: chat}\n"
        ),
    )
    assert ProbeAction.calls == Counter({"mail-down": 1, "chat": 1})
    assert [a.succeeded for a in result.actions] == [False, True]
    assert result.options["notify_failed"].startswith(
        "action 'probe' of plugin 'probe-plugin' (always #1)"
    )
    assert exit_code_for(result) == ExitCode.JOB_FAILED


def test_an_interrupted_run_resumes_without_repeating_finished_actions(
    sandbox, client_for, write_manifest, hooks, tmp_path
) -> None:
    path = write_manifest(
        manifest_text("""
            a:
              job: export_scheduled_sends
              on_success:
                - probe: {key: first, value: kept, interrupt: true}
                - probe: {key: second}
        """)
    )
    client = client_for(sandbox)
    stopped = run(path, client=client, state=tmp_path / "st")
    assert stopped.interrupted and exit_code_for(stopped) == ExitCode.INTERRUPTED
    assert ProbeAction.calls == Counter({"first": 1})
    assert "a" not in hooks.finished  # not finished yet: the resumed run finishes it

    resumed = run(path, client=client, state=tmp_path / "st")
    assert resumed.run_id == stopped.run_id and resumed.succeeded
    assert ProbeAction.calls == Counter({"first": 1, "second": 1})
    first, second = resumed.jobs["a"].actions
    assert first.resumed and first.outputs["echo"] == "kept" and not second.resumed
    assert len(sandbox.submissions()) == 1
    assert len(hooks.finished["a"]) == 1

    # The run is finished now: the next run starts afresh.
    again = run(path, client=client, state=tmp_path / "st")
    assert again.run_id != stopped.run_id


def test_a_bug_in_a_plugins_action_names_the_plugin_and_the_exception(run_jobs) -> None:
    result = run_jobs("""
        a:
          job: export_scheduled_sends
          on_success:
            - probe: {key: buggy, bug: true}
    """)
    job = result.jobs["a"]
    assert job.status is JobStatus.FAILED
    assert job.error == (
        "action 'probe' of plugin 'probe-plugin' (on_success #1) failed: KeyError: 'no-such-output'"
    )
