"""The 429 storm: under a 50 % rate of 429 answers, a job that finished at Sailthru is never
reported as timed out because the runner's own status checks were held back."""

from __future__ import annotations

from typing import Any

import pytest

from runner.executor.progress import Progress
from runner.results import JobStatus
from runner.sailthru.ratelimit import RateLimitBudget
from runner.sandbox.faults import Faults

JOBS = 8


def run_exports(sandbox: Any, client_for: Any, write_manifest: Any, tmp_path: Any) -> Any:
    """``JOBS`` exports with a 1 s timeout, by a client whose budget holds every caller of a
    method back 1 s after a 429 (at Sailthru: until the top of the minute), and whose retry
    gives up on a call after 2 attempts."""
    from runner.executor.lifecycle import run

    client = client_for(sandbox, budget=RateLimitBudget(jitter=0.05, max_wait=1.0))
    jobs = "".join(
        f"  e{i}:\n    job: export_list_data\n    list: Main Newsletter\n" for i in range(JOBS)
    )
    path = write_manifest(
        "version: 1\nname: storm\nconcurrency: 8\n"
        "defaults:\n  timeout: 1s\n  poll: {initial: 0.1s, max: 0.3s}\n"
        "  retry: {attempts: 2, initial: 0.01s, max: 0.05s}\n"
        f"jobs:\n{jobs}"
    )
    return run(path, client=client, state=tmp_path / "st")


def timed_out_but_finished(sandbox: Any, result: Any) -> dict[str, str]:
    return {
        job.id: sandbox.job(job.remote_job_id)["status"]
        for job in result.jobs.values()
        if job.status is JobStatus.TIMED_OUT
    }


def test_status_checks_refused_by_the_rate_limit_do_not_time_a_job_out(
    sandbox_factory: Any, client_for: Any, write_manifest: Any, tmp_path: Any
) -> None:
    sandbox = sandbox_factory(seed="demo")
    # Every status check of the first 3 s is refused: each job finishes at the sandbox in
    # 0.2 s, but the runner cannot learn it before the jobs' 1 s timeout.
    sandbox.faults.throttle_next(6, method="GET", path="/job")
    result = run_exports(sandbox, client_for, write_manifest, tmp_path)
    assert not timed_out_but_finished(sandbox, result)
    assert {job.status for job in result.jobs.values()} == {JobStatus.SUCCEEDED}


@pytest.mark.slow
def test_under_a_50_percent_429_storm_no_finished_job_is_reported_timed_out(
    sandbox_factory: Any, client_for: Any, write_manifest: Any, tmp_path: Any
) -> None:
    sandbox = sandbox_factory(seed="demo", faults=Faults(throttle_rate=0.5, seed=1))
    result = run_exports(sandbox, client_for, write_manifest, tmp_path)
    assert not timed_out_but_finished(sandbox, result)
    # A submission refused by 429 on both attempts fails ("could not submit"); the others
    # run to the end.
    assert sum(job.status is JobStatus.SUCCEEDED for job in result.jobs.values()) >= JOBS // 2


class _Order(Progress):
    """Records, in order, each job's submission answered and each job's second status check
    answered (the first ones may answer before the 429 that holds every later GET back)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def job_changed(self, job: Any, note: str = "") -> None:
        if job.status is JobStatus.RUNNING and ("submitted", job.id) not in self.events:
            self.events.append(("submitted", job.id))

    def job_polled(self, job: Any, next_poll_in: float) -> None:
        if job.polls == 2:
            self.events.append(("polled twice", job.id))


def test_submissions_do_not_wait_behind_status_checks_held_by_the_get_budget(
    sandbox_factory: Any, client_for: Any, write_manifest: Any, tmp_path: Any
) -> None:
    from runner.executor.lifecycle import run

    # Answers take 0.1 s, so the first jobs are polled while the others are still sent.
    sandbox = sandbox_factory(seed="demo", job_time=4.0, faults=Faults(latency=0.1))
    # The first status check is refused: every GET then waits 3 s for the window's reset,
    # and the POSTs of the jobs not yet submitted must not wait with them.
    sandbox.faults.throttle_next(1, method="GET", path="/job")
    client = client_for(sandbox, budget=RateLimitBudget(jitter=0.05, max_wait=3.0))
    jobs = "".join(f"  e{i}:\n    job: export_list_data\n    list: VIP\n" for i in range(20))
    path = write_manifest(
        "version: 1\nname: queues\nconcurrency: 20\n"
        "defaults:\n  timeout: 1m\n  poll: {initial: 0.05s, max: 0.5s}\n"
        f"jobs:\n{jobs}"
    )
    order = _Order()
    result = run(path, client=client, state=tmp_path / "st", progress=order)
    assert {job.status for job in result.jobs.values()} == {JobStatus.SUCCEEDED}
    # A second status check answers only once the GET window reset: every job was sent before.
    reset = next(i for i, (kind, _) in enumerate(order.events) if kind == "polled twice")
    submitted_after = [job for kind, job in order.events[reset:] if kind == "submitted"]
    assert not submitted_after, f"sent only once the GETs could go again: {submitted_after}"


def test_a_submission_held_back_by_the_rate_limit_keeps_its_timeout(
    sandbox_factory: Any, client_for: Any, write_manifest: Any, tmp_path: Any
) -> None:
    # The timeout covers the submission, but not the runner's wait for the API's rate limit:
    # the POST is refused once (429) and waits 2 s, longer than the job's 1.5 s timeout.
    from runner.executor.lifecycle import run

    sandbox = sandbox_factory(seed="demo", job_time=0.5)
    sandbox.faults.throttle_next(1, method="POST", path="/job")
    client = client_for(sandbox, budget=RateLimitBudget(jitter=0.0, max_wait=2.0))
    path = write_manifest(
        "version: 1\nname: held\n"
        "defaults:\n  timeout: 1.5s\n  poll: {initial: 0.1s, max: 0.2s}\n"
        "  retry: {attempts: 3, initial: 0.01s, max: 0.05s}\n"
        "jobs:\n  e:\n    job: export_list_data\n    list: Main Newsletter\n"
    )
    result = run(path, client=client, state=tmp_path / "st")
    job = result.jobs["e"]
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.duration_seconds is not None and job.duration_seconds > 2.0  # it did wait


def test_status_checks_refused_forever_time_the_job_out_after_one_window(
    sandbox_factory: Any, client_for: Any, write_manifest: Any, tmp_path: Any
) -> None:
    # An API (or a proxy) that answers 429 to every status check must not keep the run
    # alive forever: one rate-limit window (60 s) past the timeout, the job times out.
    # A clock 30 times faster than real time makes that window 2 real seconds.
    from runner.executor.lifecycle import run
    from runner.executor.polling import ScaledClock

    sandbox = sandbox_factory(seed="demo")
    sandbox.faults.throttle_next(1_000_000, method="GET", path="/job")
    client = client_for(sandbox, budget=RateLimitBudget(jitter=0.0, max_wait=0.05))
    path = write_manifest(
        "version: 1\nname: refused\n"
        "defaults:\n  timeout: 30s\n  poll: {initial: 3s, max: 6s}\n"
        "  retry: {attempts: 1, initial: 0.01s, max: 0.05s}\n"
        "jobs:\n  e:\n    job: export_list_data\n    list: Main Newsletter\n"
    )
    result = run(path, client=client, state=tmp_path / "st", clock=ScaledClock(30.0))
    job = result.jobs["e"]
    assert job.status is JobStatus.TIMED_OUT
    assert "the API answered 429 (rate limit) to every status check" in (job.error or "")
