"""The repository's split examples on the sandbox: one joined CSV with one header, and a
split job's outputs (rows, sha256) read by a job downstream."""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.executor.lifecycle import run
from runner.results import JobStatus
from runner.sailthru.client import SailthruClient

REPO = Path(__file__).resolve().parents[2]


def run_manifest(sandbox: Any, manifest: Path, state: Path) -> Any:
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        return run(manifest, client=client, state=state, env={})


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """manifests/ copied, so the examples' ../exports lands in the test's folder."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "job_id", "parts"),
    [
        ("purchase-log-40-days.yaml", "returns-window", 2),
        ("purchase-backfill.yaml", "export-q1", 3),
    ],
)
def test_a_split_example_runs_to_one_joined_csv(
    sandbox: Any, examples: Path, name: str, job_id: str, parts: int
) -> None:
    result = run_manifest(sandbox, examples / "manifests" / name, examples / "state")
    job = result.jobs[job_id]
    assert result.succeeded, {j.job_id: j.error for j in result.jobs.values()}
    submitted = sandbox.submissions("export_purchase_log")
    assert len(submitted) == parts == len(job.outputs["parts"])
    starts = [datetime.strptime(p["start_date"], "%Y%m%d") for p in submitted]
    assert all(b - a == timedelta(days=31) for a, b in itertools.pairwise(starts))
    (saved,) = (examples / "exports").iterdir()
    rows = list(csv.reader(io.StringIO(saved.read_text())))
    assert rows[0][:3] == ["Date", "Email Hash", "Extid"]
    assert rows.count(rows[0]) == 1  # one header
    assert len(rows) - 1 == job.outputs["rows"] > 0


def test_a_job_downstream_reads_the_joined_files_outputs(sandbox: Any, tmp_path: Path) -> None:
    end = date.today()
    start = end - timedelta(days=39)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        f"""
version: 1
name: downstream
jobs:
  forty-days:
    job: export_purchase_log
    start_date: {start:%Y%m%d}
    end_date: {end:%Y%m%d}
    split: true
  tell:
    job: import
    list: "Rows ${{{{ jobs.forty-days.outputs.rows }}}}"
    emails: "${{{{ jobs.forty-days.outputs.sha256 }}}}@example.com"
"""
    )
    result = run_manifest(sandbox, manifest, tmp_path / "state")
    assert result.jobs["tell"].status is JobStatus.SUCCEEDED, result.jobs["tell"].error
    (imported,) = sandbox.submissions("import")
    outputs = result.jobs["forty-days"].outputs
    assert imported["list"] == f"Rows {outputs['rows']}"
    assert imported["emails"] == f"{outputs['sha256']}@example.com"
    assert [(p["start_date"], p["end_date"]) for p in outputs["parts"]] == [
        (f"{start:%Y%m%d}", f"{start + timedelta(days=30):%Y%m%d}"),
        (f"{start + timedelta(days=31):%Y%m%d}", f"{end:%Y%m%d}"),
    ]
