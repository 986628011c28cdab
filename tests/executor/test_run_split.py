"""``split: true``: a 40-day export_purchase_log runs as two parts joined into one CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from runner.executor.state import RunState
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
    with RunState(tmp_path / "st") as state:
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


def test_joined_files_are_served_like_exports_with_ranges(tmp_path) -> None:
    import requests

    from runner.executor.splitparts import JoinedExports
    from runner.masking import mask

    joined = tmp_path / "joined.csv"
    joined.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    server = JoinedExports()
    try:
        url = server.url_for(joined)
        assert mask(f"saved from {url}") == "saved from ***"  # a capability, like an export URL
        with requests.Session() as session:
            whole = session.get(url, timeout=5)
            assert whole.status_code == 200 and whole.content == joined.read_bytes()
            assert whole.headers["Content-Length"] == str(joined.stat().st_size)
            tail = session.get(url, headers={"Range": "bytes=4000-"}, timeout=5)
            assert tail.status_code == 206 and tail.content == joined.read_bytes()[4000:]
            assert session.get(url.replace("/joined/", "/joined/x"), timeout=5).status_code == 404
    finally:
        server.close()
