"""Saved plans: ``sailjobs plan m.yaml --out plan.json`` then ``sailjobs run plan.json``, as a
pipeline runs them: real processes against the sandbox, real files, the sandbox's record of
every job it received."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner import __version__
from runner.sandbox import Sandbox

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "plan-file.schema.json"

MANIFEST = """\
version: 1
name: planned
defaults:
  timeout: 2m
  poll: {initial: 0.1s, max: 0.5s}
vars:
  newsletter: Main Newsletter
  label: "${{ env.REGION }} ${{ run.date | yyyymmdd }}"
jobs:
  signups:
    job: import
    list: "Planned ${{ vars.label }}"
    file: people.csv
  secret-list:
    job: import
    list: ${{ env.LIST_SECRET }}
    emails: b@example.com
  export:
    job: export_list_data
    list: ${{ vars.newsletter }}
    needs: [signups]
    on_success:
      - download: {path: "out/${{ run.date | yyyymmdd }}-${{ run.id }}.csv"}
"""


def _sailjobs(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SAILJOBS, *args],
        cwd=folder,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    (tmp_path / "people.csv").write_text("email\na@example.com\nc@example.com\n")
    return tmp_path


@pytest.fixture
def api_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        "REGION": "eu",
        "LIST_SECRET": "hidden list 7f3a9c",
    }


def _make_plan(folder: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    made = _sailjobs(folder, "plan", "m.yaml", "--out", "plan.json", *extra, env=env)
    assert made.returncode == 0, made.stderr
    return json.loads((folder / "plan.json").read_text())


def _job_posts(sandbox: Sandbox) -> int:
    return sum(1 for method, path, _ in sandbox.request_log if (method, path) == ("POST", "/job"))


def test_an_unchanged_plan_sends_exactly_the_planned_parameters(
    folder: Path, api_env: dict[str, str], sandbox: Sandbox
) -> None:
    planned = _make_plan(folder, api_env)
    jsonschema.validate(planned, json.loads(SCHEMA.read_text()))
    assert [entry["path"] for entry in planned["files"]] == ["people.csv"]
    # The environment at apply time differs: frozen values stay as planned, secrets are
    # read now.
    ran = _sailjobs(
        folder,
        "run", "plan.json", "--state", "st", "--report", "report.json",
        env={**api_env, "REGION": "us", "LIST_SECRET": "hidden list 7f3a9c"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    received = {payload["list"]: payload for payload in sandbox.submissions()}
    assert len(received) == 3
    by_job = {job["id"]: job["params"] for job in planned["jobs"]}
    assert by_job["signups"]["list"].startswith("Planned eu ")  # REGION as planned, not "us"
    assert by_job["secret-list"] == {"list": "${{ env.LIST_SECRET }}", "emails": "b@example.com"}
    for job_id, params in by_job.items():
        expected = {
            **params,
            "list": params["list"].replace("${{ env.LIST_SECRET }}", "hidden list 7f3a9c"),
        }
        sent = {key: value for key, value in received[expected["list"]].items() if key != "job"}
        expected.pop("file", None)  # the upload travels as a file part, not in the payload
        assert sent == expected, job_id
    report = json.loads((folder / "report.json").read_text())
    assert report["options"]["plan"] == "plan.json"
    # run.id is read at run time: the download is named by this run's id and the planned date.
    run_id = report["run_id"]
    day = planned["run_date"].replace("-", "")
    assert [p.name for p in (folder / "out").iterdir()] == [f"{day}-{run_id}.csv"]
    # The run is the manifest's: its state key, so the manifest's own commands see it.
    again = _sailjobs(folder, "run", "m.yaml", "--state", "st", "--retry-failed", env=api_env)
    assert again.returncode == 0
    assert f"nothing to retry: run {run_id} of m.yaml succeeded" in again.stderr + again.stdout


def test_a_plan_refuses_to_run_after_its_manifest_changed(
    folder: Path, api_env: dict[str, str], sandbox: Sandbox
) -> None:
    _make_plan(folder, api_env)
    manifest = folder / "m.yaml"
    manifest.write_text(manifest.read_text().replace("Main Newsletter", "VIP"))
    ran = _sailjobs(folder, "run", "plan.json", "--state", "st", env=api_env)
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [
        "error: m.yaml changed since the plan plan.json was made; make a new plan: "
        "`sailjobs plan m.yaml --out plan.json`"
    ]
    assert _job_posts(sandbox) == 0
    assert sandbox.submissions() == []


def test_a_plan_refuses_to_run_after_a_file_it_reads_changed(
    folder: Path, api_env: dict[str, str], sandbox: Sandbox
) -> None:
    _make_plan(folder, api_env)
    (folder / "people.csv").write_text("email\nsomeone-else@example.com\n")
    ran = _sailjobs(folder, "run", "plan.json", "--state", "st", env=api_env)
    assert (ran.returncode, ran.stderr.splitlines()) == (
        2,
        [
            "error: people.csv (jobs.signups.file) changed since the plan was made; make a new "
            "plan: `sailjobs plan m.yaml --out plan.json`"
        ],
    )
    assert _job_posts(sandbox) == 0


def test_a_tampered_plan_file_is_refused(
    folder: Path, api_env: dict[str, str], sandbox: Sandbox
) -> None:
    _make_plan(folder, api_env)
    plan = folder / "plan.json"
    plan.write_text(plan.read_text().replace('"Main Newsletter"', '"VIP"'))
    ran = _sailjobs(folder, "run", "plan.json", "--state", "st", env=api_env)
    assert (ran.returncode, ran.stderr.splitlines()) == (
        2,
        [
            "error: plan.json: the plan file was edited after it was made (its checksum does "
            "not match its content); make a new plan: `sailjobs plan m.yaml --out plan.json`"
        ],
    )
    assert _job_posts(sandbox) == 0


def test_a_plan_file_of_another_format_version_is_refused(
    folder: Path, api_env: dict[str, str]
) -> None:
    _make_plan(folder, api_env)
    plan = folder / "plan.json"
    plan.write_text(plan.read_text().replace('"format_version": 1', '"format_version": 2'))
    ran = _sailjobs(folder, "run", "plan.json", "--state", "st", env=api_env)
    assert (ran.returncode, ran.stderr.splitlines()) == (
        2,
        [
            f"error: plan.json: plan file format version 2; this sailjobs ({__version__}) reads "
            "version 1; make a new plan: `sailjobs plan m.yaml --out plan.json`"
        ],
    )


def test_the_readme_saved_plans_commands_work_when_pasted(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**Saved plans.**") :]
    start = section.index("```sh\n") + len("```sh\n")
    block = section[start : section.index("\n```", start)]
    commands = [line.split("#")[0].split() for line in block.splitlines()]
    assert [command[:2] for command in commands] == [["sailjobs", "plan"], ["sailjobs", "run"]]
    shutil.copytree(repo / "manifests", tmp_path / "manifests")
    made = _sailjobs(tmp_path, *commands[0][1:], env={})
    assert made.returncode == 0, made.stderr
    assert "```mermaid" in made.stdout
    ran = _sailjobs(tmp_path, *commands[1][1:], "--state", "st", env={})
    assert ran.returncode == 0, ran.stdout + ran.stderr
