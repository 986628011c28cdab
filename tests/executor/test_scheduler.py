"""The scheduler against the sandbox: order, outputs, failures, caps, timeouts, hooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from executor_helpers import manifest_text

from runner.executor.lifecycle import RunSetupError, exit_code_for, run
from runner.executor.scheduler import Scheduler
from runner.exitcodes import ExitCode
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.problems import ManifestError
from runner.results import JobStatus
from runner.sailthru.client import SailthruClient
from runner.sailthru.ratelimit import RateLimitState


def test_a_chain_passes_outputs_and_every_hook_fires_in_order(sandbox, hooks, run_jobs) -> None:
    result = run_jobs("""
        export-main:
          job: export_list_data
          list: Main Newsletter
        audit:
          job: import
          list: "Audit of ${{ jobs.export-main.outputs.filename }}"
          emails: audit@example.com
        sends:
          job: export_scheduled_sends
    """)
    assert exit_code_for(result) == ExitCode.OK
    assert {job.status for job in result.jobs.values()} == {JobStatus.SUCCEEDED}
    export = result.jobs["export-main"]
    assert export.outputs["export_url"].startswith(sandbox.url)
    assert export.remote_job_id and export.polls >= 1 and export.attempts == 1
    # The import was sent the export's file name, resolved just before submission.
    (imported,) = sandbox.submissions("import")
    assert imported["list"] == f"Audit of {export.outputs['filename']}"
    assert result.jobs["audit"].params["list"] == imported["list"]
    # Each job submitted once; hooks: started, then each job submitted before it finished,
    # exactly once each, then the run's end.
    assert len(sandbox.submissions()) == 3
    assert hooks.calls[0] == ("run_started", "") and hooks.calls[-1] == ("run_finished", "")
    for job_id in result.jobs:
        assert hooks.calls.index(("submitted", job_id)) < hooks.calls.index(("finished", job_id))
        assert len(hooks.finished[job_id]) == 1


def test_a_failure_skips_its_dependents_and_independent_branches_go_on(
    sandbox, hooks, run_jobs
) -> None:
    result = run_jobs("""
        broken:
          job: export_list_data
          list: No Such List Anywhere
        after-broken:
          job: export_scheduled_sends
          needs: [broken]
        after-after:
          job: export_scheduled_sends
          needs: [after-broken]
        independent:
          job: export_list_data
          list: VIP
    """)
    jobs = result.jobs
    assert jobs["broken"].status is JobStatus.FAILED
    assert "could not submit" in jobs["broken"].error
    assert jobs["after-broken"].status is JobStatus.SKIPPED
    assert jobs["after-broken"].error == "it needs 'broken', which failed"
    assert jobs["after-after"].error == "it needs 'after-broken', which was skipped"
    assert jobs["independent"].status is JobStatus.SUCCEEDED
    assert exit_code_for(result) == ExitCode.JOB_FAILED
    # Skipped jobs were never sent, and still got their job_finished exactly once.
    # (the API refused the unknown list, so only the independent export was accepted).
    assert [p.get("list") for p in sandbox.submissions()] == ["VIP"]
    assert all(len(hooks.finished[j]) == 1 for j in jobs)


def test_fail_fast_stops_submitting(sandbox, run_jobs) -> None:
    sandbox.faults.error_next_jobs(1)
    result = run_jobs(
        """
        first:
          job: export_scheduled_sends
        second:
          job: export_scheduled_sends
          needs: [first]
        unrelated:
          job: export_list_data
          list: VIP
          needs: [first-sibling]
        first-sibling:
          job: export_list_data
          list: Engaged
          needs: [first]
        """,
        header="fail_fast: true\nconcurrency: 1\n",
    )
    assert result.jobs["first"].status is JobStatus.FAILED
    assert "The job failed (injected fault)" in result.jobs["first"].error
    for job_id in ("second", "first-sibling", "unrelated"):
        assert result.jobs[job_id].status is JobStatus.SKIPPED
    assert result.jobs["second"].error == "it needs 'first', which failed"
    assert len(sandbox.submissions()) == 1


def test_concurrency_and_the_import_cap_bound_jobs_in_flight(
    sandbox_factory, client_for, write_manifest, hooks, tmp_path
) -> None:
    sandbox = sandbox_factory(seed="demo", job_time=0.8)
    jobs = "".join(
        f"""
        imp-{i}:
          job: import
          list: Cap {i}
          emails: user{i}@example.com
        """
        for i in range(8)
    ) + "".join(
        f"""
        exp-{i}:
          job: export_scheduled_sends
        """
        for i in range(4)
    )
    path = write_manifest(manifest_text(jobs, header="concurrency: 7\n"))
    result = run(path, client=client_for(sandbox), state=tmp_path / "st")
    assert result.succeeded
    # Replay the hook calls: how many jobs (and imports) were between submitted and finished.
    in_flight = imports = peak = peak_imports = 0
    for kind, job_id in hooks.calls:
        delta = {"submitted": 1, "finished": -1}.get(kind, 0)
        in_flight += delta
        if job_id.startswith("imp-"):
            imports += delta
        peak, peak_imports = max(peak, in_flight), max(peak_imports, imports)
    assert peak == 7
    assert peak_imports == 5


def test_a_job_ending_in_error_fails_with_the_servers_message(sandbox, run_jobs) -> None:
    sandbox.faults.error_next_jobs(1)
    result = run_jobs("only:\n  job: export_scheduled_sends\n")
    job = result.jobs["only"]
    assert job.status is JobStatus.FAILED and job.remote_status == "error"
    assert job.error == (
        f"Sailthru reported the job {job.remote_job_id} as 'error': The job failed (injected fault)"
    )


def test_a_job_stuck_pending_times_out_naming_its_job_id(sandbox, run_jobs, tmp_path) -> None:
    sandbox.faults.stick_next_jobs(1)
    result = run_jobs("stuck:\n  job: export_scheduled_sends\n  timeout: 1s\n")
    job = result.jobs["stuck"]
    assert job.status is JobStatus.TIMED_OUT
    assert job.error == (
        f"timed out after 1s: the Sailthru job {job.remote_job_id} may still be running "
        f"(check it with `sailjobs status {job.remote_job_id}`; `sailjobs run "
        f"{tmp_path / 'm.yaml'} --state {tmp_path / 'st'} --retry-failed` waits for it again, "
        "without resubmitting it)"
    )
    assert 1.0 <= job.duration_seconds < 3.0
    assert exit_code_for(result) == ExitCode.JOB_FAILED


def test_an_expired_export_fails_naming_the_expiry(sandbox, run_jobs) -> None:
    sandbox.faults.early_expiry = 0.0
    result = run_jobs("sends:\n  job: export_scheduled_sends\n")
    job = result.jobs["sends"]
    assert job.status is JobStatus.FAILED
    assert "expired before it could be downloaded" in job.error


def test_missing_env_is_named_all_at_once_and_nothing_is_sent(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    path = write_manifest(
        manifest_text("""
            a:
              job: import
              list: ${{ env.LIST_A }}
              emails: ${{ env.EMAILS }}
        """)
    )
    with pytest.raises(RunSetupError, match="environment variables not set: EMAILS, LIST_A"):
        run(path, client=client_for(sandbox), state=tmp_path / "st", env={})
    assert sandbox.submissions() == []


def test_an_invalid_manifest_sends_nothing(sandbox, client_for, write_manifest, tmp_path) -> None:
    path = write_manifest(manifest_text("a:\n  job: export_list_data\n  lst: Main\n"))
    with pytest.raises(ManifestError):
        run(path, client=client_for(sandbox), state=tmp_path / "st")
    assert sandbox.request_log == []


def test_secret_env_values_are_masked_in_the_result(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    path = write_manifest(
        manifest_text(
            "a:\n  job: import\n  list: ${{ env.LIST_NAME }}\n  emails: ${{ env.WHO_SECRET }}\n"
        )
    )
    result = run(
        path, client=client_for(sandbox), state=tmp_path / "st",
        env={"WHO_SECRET": "hidden.person@example.com", "LIST_NAME": "Secretive"},
    )  # fmt: skip
    assert result.succeeded
    assert sandbox.submissions()[0]["emails"] == "hidden.person@example.com"
    assert result.jobs["a"].params["emails"] == "***"
    assert result.jobs["a"].params["list"] == "Secretive"  # an ordinary env value is shown


def test_a_second_run_of_the_same_manifest_is_refused_while_locked(
    sandbox, client_for, write_manifest, tmp_path
) -> None:
    from runner.executor.state import ManifestLock, manifest_key

    path = write_manifest(manifest_text("a:\n  job: export_scheduled_sends\n"))
    with (
        ManifestLock(tmp_path / "st", manifest_key(path), path),
        pytest.raises(RunSetupError, match="another sailjobs run"),
    ):
        run(path, client=client_for(sandbox), state=tmp_path / "st")
    assert sandbox.submissions() == []


def test_preflight_refuses_a_bad_file_and_warn_submits_it(
    sandbox, tmp_path: Path, run_jobs
) -> None:
    # The file is good when the run checks it before its first POST, and turned bad once
    # the run started: only the check just before the upload can see that.
    good = (Path(__file__).parents[1] / "preflight" / "corpus" / "valid.jsonl").read_text()
    (tmp_path / "bad.jsonl").write_text(good)

    class Spoiler:
        @hookimpl
        def sailjobs_run_started(self, run: Any) -> None:
            (tmp_path / "bad.jsonl").write_text('{"email": "a@example.com", "items": []}\n')

    manager = get_plugin_manager()
    manager.register(Spoiler(), name="spoiler")
    try:
        result = run_jobs("""
            refused:
              job: purchase_import
              file: bad.jsonl
            warned:
              job: purchase_import
              file: bad.jsonl
              preflight: warn
        """)
    finally:
        manager.unregister(name="spoiler")
    refused = result.jobs["refused"]
    assert refused.status is JobStatus.FAILED
    assert refused.error.startswith("pre-flight check refused the file: ")
    assert "line 1" in refused.error
    assert refused.remote_job_id is None
    # warn: reported, then submitted (the sandbox then ends it in error).
    assert len(sandbox.submissions("purchase_import")) == 1
    assert result.jobs["warned"].remote_job_id is not None


def test_unknown_statuses_mean_still_running_and_incomplete_is_a_failure(
    sandbox, client_for, write_manifest, tmp_path, monkeypatch
) -> None:
    from runner.sandbox.jobs import JobManager

    original = JobManager.describe
    seen: list[str] = []

    def describe(self, record, base_url):  # the API's other statuses, as some accounts show
        answer = original(self, record, base_url)
        renamed = {"pending": "queued", "running": "processing", "error": "incomplete"}
        answer["status"] = renamed.get(answer["status"], answer["status"])
        seen.append(answer["status"])
        return answer

    monkeypatch.setattr(JobManager, "describe", describe)
    sandbox.faults.error_next_jobs(1)
    path = write_manifest(
        manifest_text(
            """
            bad:
              job: export_scheduled_sends
            good:
              job: export_scheduled_sends
              needs: [bad-sibling]
            bad-sibling:
              job: export_list_data
              list: VIP
        """,
            header="concurrency: 1\n",
        )  # "bad" goes first and gets the fault
    )
    result = run(path, client=client_for(sandbox), state=tmp_path / "st")
    assert result.jobs["bad"].status is JobStatus.FAILED
    assert result.jobs["bad"].remote_status == "incomplete"
    assert "as 'incomplete': The job failed (injected fault)" in result.jobs["bad"].error
    assert result.jobs["good"].status is JobStatus.SUCCEEDED
    assert {"queued", "processing"} & set(seen)


class _LowGetBudgetClient(SailthruClient):
    """A sandbox client whose GET budget always reads as nearly spent, reset a second away.

    The sandbox's windows are real clock minutes; this puts the run in the pacing regime
    (polls spread out) without waiting for a minute's budget to run down.
    """

    def budget_for(self, endpoint: str, method: str) -> RateLimitState:
        return RateLimitState(limit=100, remaining=10, reset=time.time() + 1.0)


def test_paced_polls_wait_for_their_gap_without_spinning(
    sandbox_factory, write_manifest, tmp_path, monkeypatch
) -> None:
    box = sandbox_factory(seed="demo", job_time=1.0)
    turns = 0
    dispatch = Scheduler._dispatch

    def counted(self: Scheduler) -> None:
        nonlocal turns
        turns += 1
        dispatch(self)

    monkeypatch.setattr(Scheduler, "_dispatch", counted)
    path = write_manifest(manifest_text("a: {job: export_scheduled_sends}\n"))
    with _LowGetBudgetClient(box.api_key, box.secret, box.url) as client:
        result = run(path, client=client, state=tmp_path / "st")
    assert result.succeeded and result.jobs["a"].polls >= 2
    # Each turn of the loop waits for an event or the next due time: a few dozen in about
    # two seconds. Spinning until the pacing gap has passed took tens of thousands.
    assert turns < 200, turns


def test_an_import_that_added_nobody_succeeds_with_a_warning(
    sandbox, run_jobs, tmp_path: Path
) -> None:
    """The sandbox's answer says the import added nobody (a file without an email column):
    the job succeeds, as Sailthru's would, and the warning reaches the output and the report."""
    import io
    import json

    from runner.builtin.reports import build_report, render_github_summary
    from runner.executor.progress import LineProgress

    (tmp_path / "people.csv").write_text("name,phone\nAnn,555\n")
    output = io.StringIO()
    result = run_jobs(
        """
        people:
          job: import
          list: People
          file: people.csv
          preflight: "off"  # pre-flight would refuse the file before it is sent
        signups:
          job: import
          list: People
          emails: ann@example.com
        """,
        progress=LineProgress(output),
    )
    assert exit_code_for(result) == ExitCode.OK
    people, signups = result.jobs["people"], result.jobs["signups"]
    assert signups.warnings == [] and signups.outputs["import_count"] == 1
    (warning,) = people.warnings
    assert warning.startswith(
        "the import completed but added no email address to its list: No email addresses "
        'imported: the file has no "email" column (its first line: name, phone).'
    )
    lines = output.getvalue().splitlines()
    assert any(line.endswith(f"warning: people: {warning}") for line in lines)  # at once
    assert f"  people: warning: {warning}" in lines  # and in the summary at the end
    report = json.loads(json.dumps(build_report(result)))
    assert [job["warnings"] for job in report["jobs"]] == [[warning], []]
    assert "⚠️ the import completed but added no email address" in render_github_summary(result)


def test_only_an_answer_that_says_nobody_was_imported_gives_a_warning() -> None:
    from runner.plugins import job_types

    def warning(job_type: str, **fields: object) -> str | None:
        return job_types()[job_type].completion_warning({"status": "completed", **fields})

    assert warning("import") is None  # Sailthru's documented answer has no count
    assert warning("import", import_count=3) is None
    assert warning("import", import_count=False) is None
    assert warning("export_list_data", import_count=0) is None
    assert warning("import", import_count="0") == (
        "the import completed but added no email address to its list"
    )
