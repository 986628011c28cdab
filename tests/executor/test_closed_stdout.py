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
from runner.executor.state import RunState
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
    with RunState(tmp_path / ".sailjobs") as state:
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
