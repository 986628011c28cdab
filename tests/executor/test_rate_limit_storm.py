"""The 429 storm: under a 50 % rate of 429 answers, a job that finished at Sailthru is never
reported as timed out because the runner's own status checks were held back."""

from __future__ import annotations

from typing import Any

import pytest

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
    return run(path, client=client, state_dir=tmp_path / "st")


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
