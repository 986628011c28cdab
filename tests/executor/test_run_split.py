"""``split: true``: a 40-day export_purchase_log runs as two parts joined into one CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import socket
import stat
from datetime import date, timedelta
from pathlib import Path

from runner.executor.state import SQLiteState
from runner.results import JobStatus


def split_purchases(days: int, more: str = "") -> tuple[str, str, str]:
    """A split ``purchases`` job over the last ``days`` days (``more``: lines to add to it):
    its start and end dates and the jobs text."""
    end = date.today()
    first, last = f"{end - timedelta(days=days - 1):%Y%m%d}", f"{end:%Y%m%d}"
    jobs = (
        "purchases:\n"
        "  job: export_purchase_log\n"
        f"  start_date: {first}\n"
        f"  end_date: {last}\n"
        "  split: true\n"
    )
    return first, last, jobs + more


def test_a_40_day_range_is_exported_in_parts_and_joined(sandbox, tmp_path, run_jobs) -> None:
    start, end, jobs = split_purchases(40, "  on_success:\n    - download: {path: out/}\n")
    result = run_jobs(jobs)
    job = result.jobs["purchases"]
    assert job.status is JobStatus.SUCCEEDED, job.error
    submitted = sandbox.submissions("export_purchase_log")
    assert [(p["start_date"], p["end_date"]) for p in submitted] == [
        (start, (date.today() - timedelta(days=9)).strftime("%Y%m%d")),
        ((date.today() - timedelta(days=8)).strftime("%Y%m%d"), end),
    ]
    assert [part["job_id"] for part in job.outputs["parts"]] == job.remote_job_id.split(",")
    saved = tmp_path / "out" / f"purchases-{start}-{end}.csv"
    assert job.outputs["path"] == str(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text())))
    assert rows[0][:3] == ["Date", "Email Hash", "Extid"]
    assert rows.count(rows[0]) == 1  # one header
    # Every purchase of the 40 days, no more: the parts' rows added up.
    assert len(rows) - 1 == job.outputs["rows"] > 0
    with SQLiteState(tmp_path / "st") as state:
        rows = state.jobs(result.run_id)
    assert {rows[f"purchases~{n}"].status for n in (1, 2)} == {JobStatus.SUCCEEDED}
    # The parts' downloads were cleaned up; the joined file stays in the state folder.
    folder = tmp_path / "st" / "splits" / result.run_id / "purchases"
    assert [p.name for p in folder.iterdir()] == [saved.name]


def test_a_failed_part_fails_the_job_naming_the_part(sandbox, run_jobs) -> None:
    sandbox.faults.error_next_jobs(2)
    result = run_jobs(split_purchases(35)[2])
    job = result.jobs["purchases"]
    assert job.status is JobStatus.FAILED
    assert "part 1 (" in job.error and "injected fault" in job.error


def test_a_range_within_31_days_is_one_job(sandbox, run_jobs) -> None:
    result = run_jobs(split_purchases(31)[2])
    assert result.succeeded and "parts" not in result.jobs["purchases"].outputs
    assert len(sandbox.submissions()) == 1


def test_the_joined_file_reaches_download_as_a_local_export(
    sandbox, tmp_path, run_jobs, monkeypatch
) -> None:
    listening: list[object] = []
    real_listen = socket.socket.listen

    def listen(self: socket.socket, *args: int) -> None:
        listening.append(self.getsockname())
        real_listen(self, *args)

    monkeypatch.setattr(socket.socket, "listen", listen)
    start, end, jobs = split_purchases(40, "  on_success:\n    - download: {path: out/}\n")
    result = run_jobs(jobs)
    job = result.jobs["purchases"]
    assert job.status is JobStatus.SUCCEEDED, job.error
    # The joined file is handed over as a local file, never through a server.
    assert listening == []  # no server was started for it
    assert "export_url" not in job.outputs
    joined = (
        tmp_path / "st" / "splits" / result.run_id / "purchases" / f"purchases-{start}-{end}.csv"
    )
    assert job.outputs["export_path"] == str(joined)
    saved = tmp_path / "out" / joined.name
    assert saved.read_bytes() == joined.read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert job.outputs["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert [a.outputs["bytes"] for a in job.actions] == [saved.stat().st_size]
    # No temp file left beside the target.
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_overwrite_never_refuses_an_existing_target_for_a_joined_file(
    sandbox, tmp_path, run_jobs
) -> None:
    start, end, jobs = split_purchases(40, "  on_success:\n    - download: {path: out/}\n")
    saved = tmp_path / "out" / f"purchases-{start}-{end}.csv"
    saved.parent.mkdir()
    saved.write_text("last night's file\n")
    result = run_jobs(jobs)
    job = result.jobs["purchases"]
    assert job.status is JobStatus.FAILED
    assert "already exists" in job.error and "overwrite: always" in job.error
    assert saved.read_text() == "last night's file\n"
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_overwrite_always_replaces_the_target_with_the_joined_file(
    sandbox, tmp_path, run_jobs
) -> None:
    start, end, jobs = split_purchases(
        40, "  on_success:\n    - download: {path: out/, overwrite: always}\n"
    )
    saved = tmp_path / "out" / f"purchases-{start}-{end}.csv"
    saved.parent.mkdir()
    saved.write_text("last night's file\n")
    result = run_jobs(jobs)
    job = result.jobs["purchases"]
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert saved.read_bytes() == Path(job.outputs["export_path"]).read_bytes()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_a_part_download_that_fails_for_good_leaves_no_partial_file(
    sandbox, tmp_path, run_jobs
) -> None:
    sandbox.faults.cut_next_downloads(100)
    jobs = split_purchases(40, "  retry: {attempts: 2, initial: 0.1s, max: 0.1s}\n")[2]
    result = run_jobs(jobs)
    job = result.jobs["purchases"]
    assert job.status is JobStatus.FAILED
    assert "could not join the parts" in job.error
    folder = tmp_path / "st" / "splits" / result.run_id / "purchases"
    assert [p.name for p in folder.iterdir()] == []  # the job failed: nothing to resume
