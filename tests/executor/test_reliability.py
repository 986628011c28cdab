"""Runs against a flaky API (the sandbox's faults): right status per job, right exit code,
and the sandbox's own records show every job submitted once."""

from __future__ import annotations

from collections import Counter

from executor_helpers import manifest_text

from runner.executor.lifecycle import exit_code_for, run
from runner.exitcodes import ExitCode
from runner.results import JobStatus

EXPORTS = """
    main:
      job: export_list_data
      list: Main Newsletter
    engaged:
      job: export_list_data
      list: Engaged
    vip:
      job: export_list_data
      list: VIP
      needs: [main]
    sends:
      job: export_scheduled_sends
    purchases:
      job: export_purchase_log
      start_date: ${{ run.date | days_ago(20) | yyyymmdd }}
      end_date: ${{ run.date | yyyymmdd }}
      needs: [engaged]
"""


def imports(count: int, prefix: str = "imp") -> str:
    return "".join(
        f"""
    {prefix}-{i}:
      job: import
      list: {prefix.title()} {i}
      emails: person{i}@example.com
"""
        for i in range(count)
    )


def submitted_lists(sandbox) -> Counter[str]:
    """How many times the sandbox accepted a job, per list/job type (the job's identity)."""
    return Counter(p.get("list") or p["job"] for p in sandbox.submissions())


def run_it(path, client, tmp_path):
    return run(path, client=client, state=tmp_path / "st")


def test_5xx_bursts_are_retried_for_safe_posts_and_every_get(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    sandbox.faults.fail_next(3, status=503, method="POST", path="/job")
    sandbox.faults.fail_next(6, status=502, method="GET", path="/job")
    path = write_manifest(manifest_text(EXPORTS))
    result = run_it(path, client_for(sandbox), tmp_path)
    assert result.succeeded, {j.id: j.error for j in result.failed_jobs}
    assert set(submitted_lists(sandbox).values()) == {1}
    assert len(sandbox.submissions()) == 5


def test_a_5xx_on_an_import_post_is_not_resent_and_says_why(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    sandbox.faults.fail_next(1, status=500, method="POST", path="/job")
    path = write_manifest(manifest_text(imports(1)))
    result = run_it(path, client_for(sandbox), tmp_path)
    job = result.jobs["imp-0"]
    assert job.status is JobStatus.FAILED
    assert "may or may not have been created" in job.error and job.ambiguous
    assert "--retry-failed --resubmit imp-0` submits it again" in job.error
    assert exit_code_for(result) == ExitCode.JOB_FAILED
    assert len(sandbox.submissions()) == 0  # the 500 came before the job was made


def test_a_429_storm_delays_but_never_duplicates(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    sandbox.faults.throttle_next(8)
    path = write_manifest(manifest_text(EXPORTS + imports(3)))
    result = run_it(path, client_for(sandbox), tmp_path)
    assert result.succeeded, {j.id: j.error for j in result.failed_jobs}
    assert len(sandbox.submissions()) == 8
    assert set(submitted_lists(sandbox).values()) == {1}
    assert sum(1 for _, _, status in sandbox.request_log if status == 429) == 8


def test_dropped_connections(sandbox, client_for, write_manifest, tmp_path) -> None:
    # A POST whose connection drops unanswered is resent only because exports are safe to
    # resend (here the sandbox dropped it before reading, so nothing was created).
    sandbox.faults.drop_next(2, method="POST", path="/job")
    # After a GET was answered: harmless, the poll is simply repeated.
    sandbox.faults.drop_next(3, after_body=True, method="GET", path="/job")
    path = write_manifest(manifest_text(EXPORTS))
    result = run_it(path, client_for(sandbox), tmp_path)
    assert result.succeeded, {j.id: j.error for j in result.failed_jobs}
    assert len(sandbox.submissions()) == 5
    assert set(submitted_lists(sandbox).values()) == {1}


def test_an_import_whose_answer_is_lost_fails_once_with_an_explanation(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    sandbox.faults.drop_next(1, after_body=True, method="POST", path="/job")
    path = write_manifest(manifest_text(imports(1)))
    result = run_it(path, client_for(sandbox), tmp_path)
    job = result.jobs["imp-0"]
    assert job.status is JobStatus.FAILED and "not submitted again" in job.error
    assert len(sandbox.submissions("import")) == 1  # created once, never twice


def test_slow_answers(sandbox, client_for, write_manifest, tmp_path) -> None:
    sandbox.faults.latency = 0.15
    path = write_manifest(manifest_text(EXPORTS))
    result = run_it(path, client_for(sandbox), tmp_path)
    assert result.succeeded
    assert len(sandbox.submissions()) == 5


def test_a_random_mix_of_transport_faults(sandbox, client_for, write_manifest, tmp_path) -> None:
    faults = sandbox.faults
    faults.error_rate, faults.throttle_rate, faults.latency = 0.15, 0.1, 0.02
    faults.drop_before_body_rate = 0.05
    path = write_manifest(manifest_text(EXPORTS, header="concurrency: 2\n"))
    result = run_it(path, client_for(sandbox), tmp_path)
    assert result.succeeded, {j.id: j.error for j in result.failed_jobs}
    assert len(sandbox.submissions()) == 5
    assert set(submitted_lists(sandbox).values()) == {1}
    statuses = Counter(status for _, _, status in sandbox.request_log)
    assert statuses[200] and (statuses[429] or statuses[500] or statuses[502] or statuses[503])


def test_a_stuck_job_and_a_job_in_error_in_one_run(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    sandbox.faults.stick_next_jobs(1)  # the first job accepted never leaves "pending"
    sandbox.faults.error_next_jobs(1)  # the second ends in "error"
    body = """
        stuck:
          job: export_scheduled_sends
          timeout: 1s
        errs:
          job: export_list_data
          list: Engaged
        needs-errs:
          job: export_list_data
          list: VIP
          needs: [errs]
        fine:
          job: export_list_data
          list: Main Newsletter
    """
    path = write_manifest(manifest_text(body, header="concurrency: 1\n"))
    result = run_it(path, client_for(sandbox), tmp_path)
    statuses = {job_id: job.status for job_id, job in result.jobs.items()}
    assert statuses == {
        "stuck": JobStatus.TIMED_OUT,
        "errs": JobStatus.FAILED,
        "needs-errs": JobStatus.SKIPPED,
        "fine": JobStatus.SUCCEEDED,
    }
    assert "may still be running" in result.jobs["stuck"].error
    assert "injected fault" in result.jobs["errs"].error
    assert exit_code_for(result) == ExitCode.JOB_FAILED
    assert len(sandbox.submissions()) == 3
