"""The run's views: one line per change (CI), a live table (terminals); secrets never shown."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from rich.console import Console

from runner.executor.progress import LineProgress, LiveProgress, make_progress, summary_lines
from runner.masking import register_secret
from runner.results import ActionResult, JobResult, JobStatus, RunResult

SECRET = "hunter2-very-secret"


def make_run() -> RunResult:
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "export_list_data", JobStatus.WAITING)
    run.jobs["b"] = JobResult("r1", "b", "import", JobStatus.WAITING)
    return run


def drive(progress, run: RunResult) -> None:
    a, b = run.jobs["a"], run.jobs["b"]
    progress.run_started(run)
    progress.job_changed(a)
    progress.job_changed(b)
    a.status, a.remote_job_id = JobStatus.RUNNING, "abc123"
    a.submitted_at = datetime.now(UTC) - timedelta(seconds=75)
    progress.job_changed(a)
    progress.job_changed(a)  # no change: no second line
    a.polls, a.remote_status = 1, "running"
    progress.job_polled(a, 4.0)
    a.outputs.update(rows=1234, bytes=99_000)
    progress.action_done(
        a, ActionResult("download", "p", "on_success", 0, True, 1, {"path": "x.csv"})
    )
    a.status, a.finished_at = JobStatus.SUCCEEDED, datetime.now(UTC)
    progress.job_changed(a)
    b.status, b.error = JobStatus.FAILED, f"the API said no to {SECRET}"
    progress.job_changed(b)
    progress.message(f"retrying with {SECRET}", level="warning")
    run.finished_at = datetime.now(UTC)
    progress.run_finished(run)


def test_lines_one_per_change_with_details_and_a_summary() -> None:
    register_secret(SECRET)
    out = io.StringIO()
    drive(LineProgress(out), make_run())
    text = out.getvalue()
    lines = [line.split(" ", 1)[1] for line in text.splitlines() if line[:2].isdigit()]
    assert lines == [
        "run r1: demo (2 jobs)",
        "a: running · job_id abc123",
        "a: download done → x.csv",
        "a: succeeded · 1m15s · 1,234 rows, 99,000 B",
        "b: failed",  # why: in the summary, once
        "warning: retrying with ***",
    ]
    assert text.splitlines()[-3:] == [
        "run r1 failed: 1 succeeded, 1 failed",
        "  b: failed: the API said no to ***",
        "  `sailjobs run m.yaml --retry-failed` submits again only what failed",
    ]
    assert SECRET not in text


def test_quiet_keeps_failures_and_the_summary_verbose_adds_polls() -> None:
    register_secret(SECRET)
    quiet = io.StringIO()
    drive(LineProgress(quiet, quiet=True), make_run())
    assert [line.split(" ", 1)[1] for line in quiet.getvalue().splitlines()[:1]] == ["b: failed"]
    assert "run r1 failed" in quiet.getvalue() and "a: succeeded" not in quiet.getvalue()
    verbose = io.StringIO()
    drive(LineProgress(verbose, verbose=True), make_run())
    assert "a: running (poll 1; next in 4.0s)" in verbose.getvalue()
    assert "a: waiting" in verbose.getvalue()


def test_the_live_view_renders_every_job_masked() -> None:
    register_secret(SECRET)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=170, color_system=None)
    progress = LiveProgress(console=console)
    run = make_run()
    drive(progress, run)
    text = out.getvalue()
    for expected in ("job", "status", "export_list_data", "succeeded", "1,234 rows", "failed"):
        assert expected in text
    assert "run r1 failed: 1 succeeded, 1 failed" in text
    assert SECRET not in text


def test_summary_of_an_interrupted_run_says_how_to_resume() -> None:
    run = make_run()
    run.interrupted = True
    assert summary_lines(run)[0] == (
        "run r1 interrupted (`sailjobs run m.yaml --resume` resumes it): 2 waiting"
    )


def test_make_progress_picks_by_terminal() -> None:
    assert isinstance(make_progress(tty=False), LineProgress)
    assert isinstance(make_progress(tty=True, quiet=True), LineProgress)
    live = make_progress(tty=True)
    assert isinstance(live, LiveProgress)
    live.close()


def test_an_interrupted_sandbox_run_says_the_next_run_starts_over() -> None:
    run = make_run()
    run.interrupted = True
    run.options["sandbox"] = "http://127.0.0.1:1"
    assert summary_lines(run)[0] == (
        "run r1 interrupted (the embedded sandbox is gone: running the command again starts "
        "over): 2 waiting"
    )


def test_one_job_is_one_job() -> None:
    out = io.StringIO()
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "import", JobStatus.WAITING)
    LineProgress(out).run_started(run)
    assert out.getvalue().split(" ", 1)[1] == "run r1: demo (1 job)\n"


def live_table(width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=None)
    progress = LiveProgress(console=console)
    run = make_run()
    run.jobs["a"].status = JobStatus.SUCCEEDED
    run.jobs["a"].outputs.update(rows=300, bytes=42_903)
    run.jobs["b"].status = JobStatus.SUBMITTING
    run.jobs["c-a-rather-long-job-name"] = JobResult(
        "r1", "c-a-rather-long-job-name", "export_scheduled_sends", JobStatus.FAILED,
        error="Sailthru reported the job abc as 'error': list not found",
    )  # fmt: skip
    progress.run_started(run)
    progress.close()
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\r", "", out.getvalue())  # cursor moves


def test_the_live_table_keeps_statuses_whole_on_a_narrow_terminal() -> None:
    narrow = live_table(60)
    assert all(len(line) <= 60 for line in narrow.splitlines())
    for whole in ("succeeded", "submitting", "failed", "300 rows,", "Sailthru", "found"):
        assert whole in narrow
    assert "export_scheduled_sends" not in narrow  # the type column gives way first
    wide = live_table(170)
    assert "export_scheduled_sends" in wide and "next poll" in wide
    assert "c-a-rather-long-job-name" in wide and "300 rows, 42,903 B" in wide


def test_a_failed_notify_is_in_the_verdict_of_a_run_whose_jobs_succeeded() -> None:
    run = make_run()
    for job in run.jobs.values():
        job.status = JobStatus.SUCCEEDED
    run.options["notify_failed"] = "action 'email' (always #1) failed: cannot reach it"
    run.actions.append(ActionResult("email", "email", "always", 0, False, 3, {}, "cannot reach it"))
    assert summary_lines(run) == [
        "run r1 succeeded, but a notify action failed (exit 1): 2 succeeded",
        "  notify email (always): cannot reach it",
    ]


def plain(out: io.StringIO) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\r", "", out.getvalue())  # cursor moves


def test_the_live_view_has_a_header_job_ids_and_download_paths() -> None:
    out = io.StringIO()
    progress = LiveProgress(
        console=Console(file=out, force_terminal=True, width=160, color_system=None)
    )
    run = make_run()
    run.options["sandbox"] = "http://127.0.0.1:1"
    run.jobs["c"] = JobResult("r1", "c", "import", JobStatus.WAITING)
    drive(progress, run)
    text = plain(out)
    final = text[text.rindex("sailjobs") :]  # the last frame
    assert final.splitlines()[0] == "sailjobs · demo (m.yaml) · run r1 · sandbox · 2/3 done"
    header = next(line for line in final.splitlines() if line.startswith("job "))
    assert header.split() == [
        "job",
        "type",
        "job_id",
        "status",
        "elapsed",
        "size",
    ]  # fmt: skip (the run ended: no next poll; the summary below has the details)
    row = next(line for line in final.splitlines() if line.startswith("a "))
    assert "abc123" in row
    assert final.splitlines()[-1] == "  a → x.csv"  # the files written, under the summary


def test_the_header_names_the_api_a_real_run_talks_to() -> None:
    out = io.StringIO()
    progress = LiveProgress(console=Console(file=out, force_terminal=True, width=160))
    run = make_run()
    run.options["api_url"] = "https://api.sailthru.com"
    progress.run_started(run)
    progress.close()
    assert "sailjobs · demo (m.yaml) · run r1 · https://api.sailthru.com · 0/2 done" in plain(out)


def drive_a_failed_action(progress) -> RunResult:
    run = make_run()
    a, b = run.jobs["a"], run.jobs["b"]
    b.status = JobStatus.SUCCEEDED
    progress.run_started(run)
    a.status, a.remote_job_id = JobStatus.RUNNING, "abc123"
    progress.job_changed(a)
    failed = ActionResult("download", "p", "on_success", 0, False, 2, {}, "disk on fire")
    a.actions.append(failed)
    progress.action_done(a, failed)
    a.status, a.error = JobStatus.FAILED, "action 'download' (on_success #1) failed: disk on fire"
    progress.job_changed(a)
    progress.run_finished(run)
    return run


def test_each_failure_is_shown_once_by_the_line_view() -> None:
    out = io.StringIO()
    drive_a_failed_action(LineProgress(out))
    assert out.getvalue().count("disk on fire") == 1, out.getvalue()
    assert out.getvalue().splitlines()[-2:] == [
        "  a: failed: action 'download' (on_success #1) failed: disk on fire (2 attempts)",
        "  `sailjobs run m.yaml --retry-failed` submits again only what failed",
    ]


def test_each_failure_is_shown_once_by_the_live_view() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    drive_a_failed_action(LiveProgress(console=console))
    text = plain(out)
    final = text[text.rindex("sailjobs · ") :]  # the last frame's header, then the summary
    assert final.count("disk on fire") == 1, final
    assert text.count("a: download failed") == 0  # no extra line above the table


def test_a_failed_action_that_did_not_fail_its_job_is_in_the_summary() -> None:
    run = make_run()
    for job in run.jobs.values():
        job.status = JobStatus.SUCCEEDED
    run.jobs["a"].actions.append(
        ActionResult("chat", "chat", "always", 0, False, 1, {}, "webhook down")
    )
    assert summary_lines(run) == [
        "run r1 succeeded: 2 succeeded",
        "  a: action chat (always) failed: webhook down",
    ]


def test_a_run_says_which_api_it_talks_to_without_a_path_or_user_info(sandbox, run_jobs) -> None:
    result = run_jobs("a:\n  job: export_list_data\n  list: VIP\n")
    host, port = sandbox.url.split("//")[1].split("/")[0].split(":")
    assert result.options["api_url"] == f"http://{host}:{port}"


JOB_ID = "50f1ebcd0cecba97d0a1b2c3"  # Sailthru's job ids: 24 hex digits


def busy_live_view(width: int, job_id: str = JOB_ID) -> str:
    """The last frame and summary of a run at ``width`` columns: a running job with a long
    note, and a finished one that wrote a file with a long name."""
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=None)
    progress = LiveProgress(console=console)
    run = make_run()
    a, b = run.jobs["a"], run.jobs["b"]
    progress.run_started(run)
    a.status, a.remote_job_id = JobStatus.RUNNING, job_id
    a.submitted_at = datetime.now(UTC) - timedelta(seconds=75)
    a.outputs.update(rows=1_234_567, bytes=99_000_000)
    progress.job_changed(a)
    progress.job_polled(a, 4.0)
    path = "exports/newsletter-20261203.csv"
    progress.action_done(a, ActionResult("download", "p", "on_success", 0, True, 1, {"path": path}))
    a.status, a.finished_at = JobStatus.SUCCEEDED, datetime.now(UTC)
    progress.job_changed(a)
    b.status, b.remote_job_id = JobStatus.RUNNING, job_id[::-1]
    progress.job_changed(b, "waiting for the import of a very long list name to be processed")
    progress._live.refresh()
    b.status, b.error = JobStatus.FAILED, "list not found"
    progress.job_changed(b)
    progress.run_finished(run)
    text = plain(out)
    return text[text.rindex("sailjobs · ") :]  # frames are redrawn in place: the last one


def test_the_live_table_shows_a_job_id_whole_or_not_at_all() -> None:
    for width in (100, 120, 160):
        text = busy_live_view(width)
        assert all(len(line) <= width for line in text.splitlines())
        assert JOB_ID in text and JOB_ID[::-1] in text, (width, text)
        assert "…" not in text.replace("… ", "")  # nothing cut short
    hostile = "f" * 90  # a server's job_id too long for the table: the column gives way
    text = busy_live_view(100, hostile)
    assert "job_id" not in text and "fffff…" not in text and "succeeded" in text


def test_a_written_file_is_shown_whole_under_the_summary() -> None:
    for width in (100, 120, 160):
        text = busy_live_view(width)
        summary = text[text.index("run r1 failed") :].splitlines()
        assert "  a → exports/newsletter-20261203.csv" in summary, (width, summary)
