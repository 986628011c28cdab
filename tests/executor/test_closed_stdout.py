"""A closed stdout (``sailjobs run m.yaml | head -3``) is not a crash: the run goes on with
its output dropped, says so on stderr, and records only what really happened."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.executor.progress import LineProgress
from runner.executor.state import SQLiteState
from runner.results import JobResult, JobStatus, RunResult

REPO = Path(__file__).resolve().parents[2]
SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


@pytest.mark.slow
def test_a_run_piped_into_head_goes_on_and_records_the_truth(tmp_path: Path) -> None:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")}
    with (tmp_path / "stderr.txt").open("w") as stderr:
        proc = subprocess.Popen(
            [SAILJOBS, "run", "manifests/demo.yaml", "--sandbox"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        head = [proc.stdout.readline() for _ in range(3)]  # what `head -3` reads...
        proc.stdout.close()  # ...before it exits, closing the pipe
        code = proc.wait(timeout=120)
    errors = (tmp_path / "stderr.txt").read_text()
    assert all(head), head
    assert code == 0, errors
    assert "Traceback" not in errors and "Exception ignored" not in errors
    # One line says why the output stopped, and the summary is not lost.
    assert errors.count("stdout was closed") == 1, errors
    assert "succeeded: 6 succeeded" in errors
    (key,) = _run_keys(tmp_path / ".sailjobs")
    with SQLiteState(tmp_path / ".sailjobs") as state:
        last = state.last_run(key)
        assert last is not None and last.status == "finished" and last.succeeded
        jobs = state.jobs(last.run_id)
    assert {job.status for job in jobs.values()} == {JobStatus.SUCCEEDED}, jobs


def _run_keys(state_dir: Path) -> set[str]:
    with sqlite3.connect(state_dir / "state.db") as db:
        return {row[0] for row in db.execute("SELECT manifest_key FROM runs")}


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_line_view_drops_output_after_the_pipe_closes(tmp_path: Path) -> None:
    errors = io.StringIO()
    view = LineProgress(_ClosedPipe(), errors=errors)
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "import", JobStatus.SUCCEEDED)
    view.run_started(run)  # raises nothing
    view.job_changed(run.jobs["a"])
    view.message("a warning", level="warning")
    view.run_finished(run)
    lines = errors.getvalue().splitlines()
    assert sum("stdout was closed" in line for line in lines) == 1
    assert lines[-1] == "run r1 succeeded: 1 succeeded"


class _ViewThatBreaks:
    """A view whose drawing fails once the first job runs (as a closed stdout once did)."""

    verbose = False

    def __init__(self) -> None:
        self.remote_job_id: str | None = None

    def job_changed(self, job: JobResult, note: str = "") -> None:
        if job.status is JobStatus.RUNNING and self.remote_job_id is None:
            self.remote_job_id = job.remote_job_id
            raise RuntimeError("the view broke")

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None  # every other event: nothing to draw


def test_a_run_cut_short_by_an_error_is_not_recorded_as_finished(
    sandbox, client_for, write_manifest, tmp_path: Path
) -> None:
    from runner.executor.lifecycle import run
    from runner.executor.progress import Progress

    path = write_manifest(
        "version: 1\nname: cut\ndefaults: {poll: {initial: 0.05s, max: 0.2s}}\n"
        "jobs:\n  a: {job: export_list_data, list: VIP}\n"
    )
    view = _ViewThatBreaks()
    with pytest.raises(RuntimeError, match="the view broke"):
        run(path, client=client_for(sandbox), state=tmp_path / "st", progress=view)
    (key,) = _run_keys(tmp_path / "st")
    with SQLiteState(tmp_path / "st") as state:
        last = state.last_run(key)
        assert last is not None and last.unfinished, last
    # The next run resumes it: the job Sailthru already has is polled, not sent again.
    again = run(path, client=client_for(sandbox), state=tmp_path / "st", progress=Progress())
    assert again.run_id == last.run_id
    assert again.jobs["a"].status is JobStatus.SUCCEEDED
    assert again.jobs["a"].remote_job_id == view.remote_job_id


def test_the_live_view_stops_drawing_when_its_terminal_goes_away() -> None:
    from runner.executor.progress import LiveProgress, terminal_console

    errors = io.StringIO()
    console = terminal_console(errors, file=_ClosedPipe(), force_terminal=True, width=100)
    view = LiveProgress(console=console, errors=errors)
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "import", JobStatus.WAITING)
    view.run_started(run)  # rich would raise SystemExit(1) here, the run's jobs in flight
    run.jobs["a"].status = JobStatus.SUCCEEDED
    view.job_changed(run.jobs["a"])
    view.message("a warning", level="warning")
    view.run_finished(run)
    lines = errors.getvalue().splitlines()
    assert sum("stdout was closed" in line for line in lines) == 1
    assert lines[-1] == "run r1 succeeded: 1 succeeded"


def test_warnings_and_errors_after_the_pipe_closes_go_to_stderr() -> None:
    errors = io.StringIO()
    view = LineProgress(_ClosedPipe(), errors=errors)
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "import", JobStatus.SUCCEEDED)
    view.run_started(run)  # the pipe is found closed here
    view.message("hook on_job_end of plugin x failed: boom", level="warning")
    view.message("a retry", level="info")
    view.message("a note", level="note")
    view.message("state write failed", level="error")
    view.run_finished(run)
    text = errors.getvalue()
    assert "warning: hook on_job_end of plugin x failed: boom" in text
    assert "error: state write failed" in text
    assert "a retry" not in text and "a note" not in text  # progress stays dropped
    assert "warnings, errors and summary follow here" in text


def test_the_live_view_sends_warnings_and_errors_to_stderr_once_its_terminal_is_gone() -> None:
    from runner.executor.progress import LiveProgress, terminal_console

    errors = io.StringIO()
    console = terminal_console(errors, file=_ClosedPipe(), force_terminal=True, width=100)
    view = LiveProgress(console=console, errors=errors)
    run = RunResult("r1", "demo", "m.yaml", datetime.now(UTC))
    run.jobs["a"] = JobResult("r1", "a", "import", JobStatus.WAITING)
    view.run_started(run)
    view.message("hook on_job_end of plugin x failed: boom", level="warning")
    view.message("a note", level="note")
    view.message("state write failed", level="error")
    view.run_finished(run)
    text = errors.getvalue()
    assert "warning: hook on_job_end of plugin x failed: boom" in text
    assert "error: state write failed" in text
    assert "a note" not in text
    assert text.count("stdout was closed") == 1
