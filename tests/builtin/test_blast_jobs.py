"""manifests/campaign-report.yaml end to end on the sandbox: the campaign's recipients
downloaded, its clickers saved to their own list, its snapshot emailed."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner

from runner.cli import cli

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifests" / "campaign-report.yaml"


def copy_manifest(tmp_path: Path) -> Path:
    """The manifest in a folder of its own, so its ../exports/ lands in tmp_path."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    return Path(shutil.copy(MANIFEST, folder / MANIFEST.name))


def test_the_campaign_report_runs_on_the_sandbox(tmp_path, sandbox, run_on_sandbox):
    result = run_on_sandbox(copy_manifest(tmp_path))
    jobs = result.jobs
    assert {job.status for job in jobs.values()} == {"succeeded"}, {
        name: job.error for name, job in jobs.items()
    }

    saved = tmp_path / "exports" / "campaigns" / "winter-picks-recipients.csv"
    with saved.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 == jobs["recipients"].outputs["rows"]
    clickers = {row["profile_id"] for row in rows if row["click_time"]}

    assert sandbox.data_dir is not None
    with closing(sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3")) as db:
        listed = db.execute(
            "SELECT u.profile_id FROM list_members m JOIN lists l ON l.id = m.list_id"
            " JOIN users u ON u.id = m.user_id WHERE l.name = 'Clicked: Winter Picks'"
        ).fetchall()
    assert {row[0] for row in listed} == clickers and clickers

    [report] = [m for m in sandbox.outbox if m["To"] == "crm-reports@example.com"]
    assert "Blast Snapshot: Weekly Newsletter: Winter Picks" in report["Subject"]
    assert f"clicked: {len(clickers)}" in report.get_content()
    assert jobs["snapshot"].warnings == []  # report_email given: no warning


def test_sailjobs_run_sandbox_exits_0(tmp_path, monkeypatch):
    manifest = copy_manifest(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = ["run", str(manifest), "--sandbox", "--state", str(tmp_path / "state"), "-q"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exports" / "campaigns" / "winter-picks-recipients.csv").is_file()


def test_a_save_that_selects_nobody_completes_with_a_warning(run_on_sandbox):
    result = run_on_sandbox(
        """\
version: 1
name: save-nobody
defaults: {timeout: 1m, poll: {initial: 0.1s, max: 1s}}
jobs:
  nobody:
    job: blast_save_list
    blast_id: 24110103
    list: Nobody
    query: {criteria: [domain], value: [nowhere.example]}
  everybody:
    job: blast_save_list
    blast_id: 24110103
    list: Everybody
"""
    )
    nobody, everybody = result.jobs["nobody"], result.jobs["everybody"]
    assert nobody.status == everybody.status == "succeeded"
    assert nobody.outputs["saved_count"] == 0
    assert any("saved nobody to the list" in warning for warning in nobody.warnings)
    assert everybody.outputs["saved_count"] == 25 and everybody.warnings == []
