"""The manifest's ``retry`` (``attempts``, ``initial``, ``max``; in ``defaults`` and per job)
governs a job's API calls and its actions, against a sandbox that answers 5xx on demand.

The client these runs get (``client_for``) has its own, different policy (6 attempts, waits
of at most 0.3 s): each test fails if the manifest's values are ignored. Waits are recorded
through the client's ``sleep`` hook, never waited or timed.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, ClassVar

import pytest

from runner.actions import ActionContext, ActionSettings, ActionType
from runner.executor.lifecycle import run
from runner.hookspecs import hookimpl
from runner.results import JobStatus
from runner.retries import RetryConfig

CLIENT_MAX_WAIT = 0.3  # the client_for fixture's own cap


def manifest(defaults_retry: str, job_retry: str | None, *, actions: str = "") -> str:
    job_key = f"\n    retry: {job_retry}" if job_retry else ""
    return f"""\
version: 1
name: retry
defaults:
  timeout: 30s
  poll: {{initial: 0.05s, max: 0.2s}}
  retry: {defaults_retry}
jobs:
  sends:
    job: export_scheduled_sends{job_key}{actions}
"""


def job_posts(sandbox: Any) -> list[int]:
    """The statuses of every POST /job the sandbox answered, in order."""
    return [
        status for method, path, status in sandbox.request_log if (method, path) == ("POST", "/job")
    ]


@pytest.fixture
def run_manifest(sandbox, client_for, write_manifest, tmp_path):
    """Run manifest text on the sandbox; the client's waits go to ``waits`` (not slept)."""
    waits: list[float] = []

    def go(text: str) -> Any:
        client = client_for(sandbox, sleep=waits.append)
        return run(write_manifest(text), client=client, state=tmp_path / "st")

    go.waits = waits  # type: ignore[attr-defined]
    return go


# -- attempts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defaults_retry", "job_retry", "attempts"),
    [
        ("{attempts: 6, initial: 0.01s, max: 0.01s}", "{attempts: 2}", 2),  # the job's own
        ("{attempts: 2, initial: 0.01s, max: 0.01s}", None, 2),  # defaults.retry
        ("{attempts: 2, initial: 0.01s, max: 0.01s}", "{attempts: 4}", 4),  # job over defaults
    ],
    ids=["job-2", "defaults-2", "job-4-over-defaults-2"],
)
def test_attempts_is_how_often_a_job_is_posted(
    sandbox, run_manifest, defaults_retry, job_retry, attempts
) -> None:
    sandbox.faults.fail_next(3, status=503, method="POST", path="/job")
    result = run_manifest(manifest(defaults_retry, job_retry))
    job = result.jobs["sends"]
    if attempts == 2:
        assert job.status is JobStatus.FAILED
        assert job_posts(sandbox) == [503, 503]  # exactly two tries, then given up
        assert len(run_manifest.waits) == 1
    else:
        assert job.status is JobStatus.SUCCEEDED, job.error
        assert job_posts(sandbox) == [503, 503, 503, 200]
        assert len(run_manifest.waits) == 3


def test_attempts_governs_the_polls_too(sandbox, run_manifest) -> None:
    # Each status check is one GET tried `attempts` times; a failed check is repeated later.
    sandbox.faults.fail_next(2, status=502, method="GET", path="/job")
    result = run_manifest(manifest("{attempts: 6, initial: 0.01s, max: 0.01s}", "{attempts: 2}"))
    assert result.jobs["sends"].status is JobStatus.SUCCEEDED
    gets = [s for m, p, s in sandbox.request_log if (m, p) == ("GET", "/job")]
    assert gets[:3] == [502, 502, 200]
    # Two tries of the first check (one wait between them), then the check is given up.
    assert len(run_manifest.waits) == 1


# -- initial and max ------------------------------------------------------------------------


def test_initial_sets_the_backoff_of_a_jobs_calls(sandbox, run_manifest) -> None:
    sandbox.faults.fail_next(3, status=503, method="POST", path="/job")
    result = run_manifest(
        manifest("{attempts: 4, initial: 0.01s, max: 0.04s}", "{initial: 20s, max: 1m}")
    )
    assert result.jobs["sends"].status is JobStatus.SUCCEEDED
    waits = run_manifest.waits
    assert len(waits) == 3
    # Full jitter: each wait lies between 0 and initial * 2**n (capped by max).
    assert all(0 <= wait <= cap for wait, cap in zip(waits, [20.0, 40.0, 60.0], strict=True))
    # Drawn up to 20 s and more: far beyond what defaults (0.04 s) or the client (0.3 s) allow.
    assert max(waits) > CLIENT_MAX_WAIT


def test_max_caps_the_backoff_of_a_jobs_calls(sandbox, run_manifest) -> None:
    sandbox.faults.fail_next(7, status=503, method="POST", path="/job")
    result = run_manifest(manifest("{attempts: 8, initial: 1s, max: 10m}", "{max: 2s}"))
    assert result.jobs["sends"].status is JobStatus.SUCCEEDED
    waits = run_manifest.waits
    assert len(waits) == 7
    # Without the cap, later waits would be drawn up to 4, 8, … 64 s (defaults' max: 10m).
    assert all(wait <= 2.0 for wait in waits), waits
    assert max(waits) > CLIENT_MAX_WAIT  # the manifest's backoff, not the client's own


# -- actions --------------------------------------------------------------------------------


class FlakySettings(ActionSettings):
    fail_times: int = 0


class FlakyAction(ActionType):
    """Fails ``fail_times`` times, then succeeds; no ``attempts`` of its own: the job's."""

    name: ClassVar[str] = "flaky"
    settings_model: ClassVar[type[ActionSettings]] = FlakySettings
    outputs: ClassVar[frozenset[str]] = frozenset({"tries"})
    calls: ClassVar[Counter[str]] = Counter()
    seen: ClassVar[dict[str, Any]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        owner = ctx.job.id if ctx.job is not None else "(notify)"
        with self.lock:
            self.calls[owner] += 1
            self.seen[owner] = (ctx.retry, ctx.client.retry if ctx.client else None)
            tries = self.calls[owner]
        if tries <= settings.fail_times:
            raise RuntimeError("flaked")
        return {"tries": tries}


class FlakyPlugin:
    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [FlakyAction()]


@pytest.fixture
def flaky() -> type[FlakyAction]:
    from runner.plugins import get_plugin_manager

    FlakyAction.calls.clear()
    FlakyAction.seen.clear()
    get_plugin_manager().register(FlakyPlugin(), name="flaky-plugin")
    return FlakyAction


ACTIONS = """
    on_success:
      - flaky: {fail_times: 3}"""


@pytest.mark.parametrize("attempts", [2, 4])
def test_attempts_is_how_often_a_jobs_action_is_tried(run_manifest, flaky, attempts) -> None:
    text = manifest(
        "{attempts: 6, initial: 0.01s, max: 0.02s}", f"{{attempts: {attempts}}}", actions=ACTIONS
    )
    result = run_manifest(text)
    job = result.jobs["sends"]
    (action,) = job.actions
    assert action.attempts == attempts == flaky.calls["sends"]
    if attempts == 2:
        assert not action.succeeded and job.status is JobStatus.FAILED
    else:
        assert action.succeeded and job.status is JobStatus.SUCCEEDED


def test_actions_get_the_jobs_retry_and_a_client_that_uses_it(run_manifest, flaky) -> None:
    text = manifest(
        "{attempts: 6, initial: 0.01s, max: 0.03s}",
        "{attempts: 3, initial: 0.02s}",
        actions="\n    on_success:\n      - flaky: {}",
    )
    text += "notify:\n  always:\n    - flaky: {}\n"
    result = run_manifest(text)
    assert result.succeeded
    job_retry = RetryConfig(attempts=3, initial=0.02, max=0.03)
    assert flaky.seen["sends"] == (job_retry, job_retry)
    run_retry = RetryConfig(attempts=6, initial=0.01, max=0.03)
    assert flaky.seen["(notify)"] == (run_retry, run_retry)
