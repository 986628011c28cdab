"""End to end on the sandbox: a bad file is refused before upload (zero submissions), unless
the job says ``preflight: warn`` or ``off``: by the run's dry run, before its first POST,
when its path is known then (as written, or through vars, env and run); an import file with
some lines that are not addresses is uploaded, and the import skips them as pre-flight said
it would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from runner.cli import cli
from runner.executor.lifecycle import run
from runner.jobtypes import MAX_UPLOAD_BYTES
from runner.problems import ManifestError
from runner.results import JobStatus
from runner.sailthru.client import SailthruClient

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
BAD_PURCHASE_FILES = [c for c in CASES if c["kind"] == "purchases" and not c["ok"]]


def refused_before_sending(sandbox: Any, tmp_path: Path, job: dict[str, Any]) -> str:
    """``run_one_job`` refused by the dry run: its problems, each at its manifest line; and
    nothing was sent."""
    with pytest.raises(ManifestError) as refused:
        run_one_job(sandbox, tmp_path, job)
    assert sandbox.submissions() == []
    assert all(problem.path == "jobs.load.file" for problem in refused.value.problems)
    return str(refused.value)


def run_one_job(sandbox: Any, tmp_path: Path, job: dict[str, Any]) -> Any:
    """``job`` run on the sandbox, its file named by an expression: only the checks just
    before submission can catch a bad one (validate would refuse an empty file first)."""
    manifest = tmp_path / "manifest.yaml"
    document = {"version": 1, "name": "preflight", "vars": {"file": job["file"]}}
    job = {**job, "file": "${{ vars.file }}"}
    manifest.write_text(yaml.safe_dump({**document, "jobs": {"load": job}}))
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        return run(manifest, client=client, state=tmp_path / "state")


@pytest.mark.parametrize("case", BAD_PURCHASE_FILES, ids=[c["file"] for c in BAD_PURCHASE_FILES])
def test_a_bad_purchase_file_is_never_submitted(
    sandbox: Any, tmp_path: Path, case: dict[str, Any]
) -> None:
    shutil.copy(CORPUS / case["file"], tmp_path / case["file"])
    job = {"job": "purchase_import", "file": case["file"]}
    assert case["summary"] in refused_before_sending(sandbox, tmp_path, job)


JOB_OF_KIND: dict[str, dict[str, Any]] = {
    "purchases": {"job": "purchase_import"},
    "emails": {"job": "import", "list": "Engaged"},
    "signup_dates": {"job": "import", "list": "Engaged", "signup_dates": 1},
}
OTHER_BAD_FILES = [c for c in CASES if c["kind"] != "purchases" and not c["ok"]]


@pytest.mark.parametrize("case", OTHER_BAD_FILES, ids=[c["file"] for c in OTHER_BAD_FILES])
def test_a_bad_import_file_is_never_submitted(
    sandbox: Any, tmp_path: Path, case: dict[str, Any]
) -> None:
    """Every bad email list and signup-dates CSV of the corpus, through a real run; the
    file named by an expression, which the dry run resolves."""
    shutil.copy(CORPUS / case["file"], tmp_path / case["file"])
    job = {**JOB_OF_KIND[case["kind"]], "file": case["file"]}
    assert case["summary"] in refused_before_sending(sandbox, tmp_path, job)


def test_a_file_over_1_gb_is_never_submitted(sandbox: Any, tmp_path: Path) -> None:
    with (tmp_path / "huge.jsonl").open("wb") as stream:
        stream.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no disk blocks written
    job = {"job": "purchase_import", "file": "huge.jsonl"}
    refused = refused_before_sending(sandbox, tmp_path, job)
    assert "exceeds the maximum upload file size Max upload is 1gb" in refused


def test_bad_signup_dates_are_never_submitted(sandbox: Any, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "signup_dates_unix.csv", tmp_path / "dates.csv")
    job = {"job": "import", "list": "Main Newsletter", "file": "dates.csv", "signup_dates": 1}
    assert "looks like a UNIX timestamp" in refused_before_sending(sandbox, tmp_path, job)


@pytest.mark.parametrize("mode", ["warn", "off"])
def test_warn_and_off_submit_anyway(sandbox: Any, tmp_path: Path, mode: str) -> None:
    shutil.copy(CORPUS / "emails_no_valid.txt", tmp_path / "people.txt")
    job = {"job": "import", "list": "Engaged", "file": "people.txt", "preflight": mode}
    result = run_one_job(sandbox, tmp_path, job)
    assert [s["job"] for s in sandbox.submissions()] == ["import"]
    assert result.jobs["load"].remote_job_id is not None


def test_a_valid_file_is_submitted(sandbox: Any, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "valid.jsonl", tmp_path / "valid.jsonl")
    result = run_one_job(sandbox, tmp_path, {"job": "purchase_import", "file": "valid.jsonl"})
    assert result.jobs["load"].status is JobStatus.SUCCEEDED, result.jobs["load"].error
    assert [s["job"] for s in sandbox.submissions()] == ["purchase_import"]


def import_manifest(tmp_path: Path, file: str) -> Path:
    """A manifest that imports the corpus ``file`` into a new list, the path written as is."""
    shutil.copy(CORPUS / file, tmp_path / file)
    manifest = tmp_path / "people.yaml"
    manifest.write_text(
        f"version: 1\nname: people\njobs:\n  load:\n    job: import\n    list: Imported\n"
        f"    file: {file}\n"
    )
    return manifest


def test_lines_that_are_not_addresses_are_warned_about_and_skipped(tmp_path: Path) -> None:
    """2 addresses and 3 lines that are not: validate --deep passes with a warning, and
    ``sailjobs run --sandbox`` uploads the file; the sandbox imports the 2."""
    manifest = import_manifest(tmp_path, "emails_skipped.txt")
    validated = CliRunner().invoke(cli, ["validate", "--deep", str(manifest)])
    assert validated.exit_code == 0, validated.output
    assert validated.output.splitlines()[0] == (
        f"{tmp_path}/emails_skipped.txt:2:1: warning: jobs.load.file: not a valid email "
        'address, skipped by the import: "n/a"; 2 more lines with the same warning'
    )

    report = tmp_path / "report.json"
    ran = CliRunner().invoke(
        cli,
        ["run", str(manifest), "--sandbox", "--report", str(report),
         "--state", str(tmp_path / "state")],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "emails_skipped.txt:2: not a valid email address, skipped by the import" in ran.output
    [job] = json.loads(report.read_text())["jobs"]
    assert (job["status"], job["outputs"]["import_count"]) == ("succeeded", 2)


def test_a_file_without_one_address_is_refused(tmp_path: Path) -> None:
    manifest = import_manifest(tmp_path, "emails_no_valid.txt")
    validated = CliRunner().invoke(cli, ["validate", "--deep", str(manifest)])
    assert validated.exit_code == 2, validated.output
    assert (
        "jobs.load.file: no valid email address in 3 lines, so the import would add nobody"
        in validated.output
    )
    ran = CliRunner().invoke(
        cli, ["run", str(manifest), "--sandbox", "--state", str(tmp_path / "state")]
    )
    assert ran.exit_code == 2, ran.output  # refused before anything was sent
    assert "jobs.load.file: no valid email address in 3 lines" in ran.output
    assert "nothing was sent" in ran.output


def test_signup_dates_rows_without_an_address_are_skipped(sandbox: Any, tmp_path: Path) -> None:
    """Line 5 of the file has a UNIX date, but no address: skipped before its date is read,
    by pre-flight as by the sandbox's import."""
    shutil.copy(CORPUS / "signup_dates_bad_email.csv", tmp_path / "dates.csv")
    job = {"job": "import", "list": "Imported", "file": "dates.csv", "signup_dates": 1}
    result = run_one_job(sandbox, tmp_path, job)
    load = result.jobs["load"]
    assert load.status is JobStatus.SUCCEEDED, load.error
    assert load.outputs["import_count"] == 1  # alice; the corpus case gives the warnings
