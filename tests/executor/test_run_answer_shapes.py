"""Runs whose jobs are answered the way a real account answers: the seed's GET shape (job_id
null, stop_time, fields sailjobs does not know, optional ones missing) and ``incomplete``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from executor_helpers import manifest_text

from runner.cli import cli
from runner.executor.lifecycle import exit_code_for, run
from runner.executor.state import SQLiteState
from runner.exitcodes import ExitCode
from runner.results import JobStatus
from runner.sandbox.faults import INCOMPLETE_MESSAGE

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
STOP_TIME = "Thu, May 31 2016, 6:36 pm EDT"
TOKEN = "tok-5ecret-value"


def _seed_shaped(answer: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's answer reshaped like the seed's list_erase GET example."""
    shaped = {k: v for k, v in answer.items() if k not in ("name", "start_time", "end_time")}
    shaped["job_id"] = None
    if answer["status"] == "completed":
        shaped["stop_time"] = STOP_TIME
    shaped.update({"class": "Sail_Job_ListErase", "remove_count": 1, "queue_time": STOP_TIME})
    return shaped


def test_a_seed_shaped_answer_keeps_the_job_id_and_every_field(
    sandbox, client_for, write_manifest, tmp_path, monkeypatch
) -> None:
    from runner.sandbox.jobs import JobManager

    original = JobManager.describe
    monkeypatch.setattr(
        JobManager, "describe", lambda self, record, url: _seed_shaped(original(self, record, url))
    )
    path = write_manifest(
        manifest_text("""
            sends:
              job: export_scheduled_sends
              postback_url: http://127.0.0.1:9/hook?token=${{ env.HOOK_TOKEN }}
            signups:
              job: import
              list: after ${{ jobs.sends.outputs.job_id }} at ${{ jobs.sends.outputs.end_time }}
              emails: a@example.com
        """)
    )
    report = tmp_path / "report.json"
    result = run(
        path,
        client=client_for(sandbox),
        state=tmp_path / "st",
        env={"HOOK_TOKEN": TOKEN},
        options={"report": str(report)},
    )
    assert exit_code_for(result) == ExitCode.OK, {k: j.error for k, j in result.jobs.items()}
    sends = result.jobs["sends"]
    assert sends.remote_job_id and sends.outputs["job_id"] == sends.remote_job_id
    assert sends.outputs["end_time"] == STOP_TIME  # from stop_time
    assert sends.outputs["remove_count"] == 1 and sends.outputs["class"] == "Sail_Job_ListErase"
    assert sends.outputs.get("name") is None and sends.outputs.get("start_time") is None
    # The next job read the real id, not the text "None".
    (imported,) = sandbox.submissions("import")
    assert imported["list"] == f"after {sends.remote_job_id} at {STOP_TIME}"
    # The state and the report keep the fields sailjobs does not know.
    with SQLiteState(tmp_path / "st") as state:
        stored = state.jobs(result.run_id)["sends"].outputs
    assert stored["remove_count"] == 1 and stored["job_id"] == sends.remote_job_id
    # The GET echoes the postback_url; the secret in it is masked wherever outputs go, and
    # the state keeps no link beyond its host (runner.executor.state.sealing).
    assert stored["postback_url"] == "http://127.0.0.1:9/***"
    assert TOKEN not in json.dumps(stored) and TOKEN not in report.read_text()
    reported = json.loads(report.read_text())["jobs"]
    [entry] = [job for job in reported if job["id"] == "sends"]
    assert entry["outputs"]["remove_count"] == 1
    assert entry["outputs"]["job_id"] == sends.remote_job_id


def _serve(tmp_path: Path, *options: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``sailjobs sandbox serve`` in a subprocess; its URL, key and secret as the env of a run."""
    process = subprocess.Popen(
        [SAILJOBS, "sandbox", "serve", "--port", "0", "--data", str(tmp_path / "sandbox"),
         "--seed", "demo", "--job-time", "0.1", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().split()[-1]
    key = process.stdout.readline().split()[-1]
    secret = process.stdout.readline().split()[-1]
    env = {"SAILTHRU_API_URL": url, "SAILTHRU_API_KEY": key, "SAILTHRU_API_SECRET": secret}
    return process, env


def test_an_incomplete_job_fails_the_run_with_the_apis_message(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(manifest_text("vip:\n  job: export_list_data\n  list: VIP\n"))
    report = tmp_path / "report.json"
    process, env = _serve(tmp_path, "--job-incomplete-rate", "1")
    try:
        result = CliRunner().invoke(
            cli,
            ["run", str(manifest), "--state", str(tmp_path / "st"), "--report", str(report)],
            env=env,
        )
    finally:
        process.terminate()
        process.communicate(timeout=20)
    assert result.exit_code == ExitCode.JOB_FAILED, result.output
    assert "incomplete" in result.output and INCOMPLETE_MESSAGE in result.output
    [job] = json.loads(report.read_text())["jobs"]
    assert job["status"] == JobStatus.FAILED.value
    assert f"as 'incomplete': {INCOMPLETE_MESSAGE}" in job["error"]
    assert job["outputs"]["status"] == "incomplete"
