"""``sailjobs run --sandbox --report --junit`` with $GITHUB_STEP_SUMMARY: the reports of a
real run (a download, a failing job, a skipped dependent) agree with what happened."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from runner.cli import cli

MANIFEST = """\
version: 1
name: reports-e2e
defaults:
  timeout: 1m
  poll: {initial: 0.1s, max: 1s}
  retry: {attempts: 2, initial: 0.1s, max: 0.5s}
jobs:
  export-vip:
    job: export_list_data
    list: VIP
    on_success:
      - download: {path: "out/vip.csv"}
  export-missing:
    job: export_list_data
    list: No Such List
  after-missing:
    job: export_list_data
    list: VIP
    needs: [export-missing]
"""


def test_a_real_run_writes_all_three_reports(tmp_path, monkeypatch):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.chdir(tmp_path)
    args = ["run", str(manifest), "--sandbox", "--state", str(tmp_path / "state"), "-q"]
    args += ["--report", "reports/run.json", "--junit", "reports/junit.xml"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output

    report = json.loads((tmp_path / "reports" / "run.json").read_text(encoding="utf-8"))
    jobs = {job["id"]: job for job in report["jobs"]}
    assert report["status"] == "failed"
    assert report["summary"]["succeeded"] == 1 and report["summary"]["failed"] == 1
    assert report["summary"]["skipped"] == 1
    vip = jobs["export-vip"]
    saved = tmp_path / "out" / "vip.csv"
    assert vip["outputs"]["path"] == str(saved)
    assert vip["outputs"]["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert vip["outputs"]["export_url"].endswith("/***")
    assert vip["actions"][0]["name"] == "download" and vip["actions"][0]["succeeded"]
    assert len(vip["remote_job_id"]) == 24
    assert "No Such List" in jobs["export-missing"]["params"]["list"]
    assert jobs["export-missing"]["error"]
    assert jobs["after-missing"]["status"] == "skipped"
    texts = [(tmp_path / "reports" / name).read_text() for name in ("run.json", "junit.xml")]
    assert not any("/export/" in text for text in [*texts, summary.read_text()])

    suite = ET.parse(tmp_path / "reports" / "junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert suite.find("testcase[@name='export-missing']/failure") is not None

    table = [line for line in summary.read_text(encoding="utf-8").splitlines() if "| " in line]
    assert len(table) == 2 + 3
    vip_row = next(line for line in table if line.startswith("| export-vip "))
    rows = vip["outputs"]["rows"]
    assert rows > 0 and f"| {rows:,} |" in vip_row
