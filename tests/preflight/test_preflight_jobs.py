"""Which job parameters carry which files (as each job type says), and `validate --deep`
problems at their position."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.manifest.loader import load_manifest
from runner.plugins import job_types
from runner.preflight.jobfiles import check_job_files, check_manifest_files

CORPUS = Path(__file__).parent / "corpus"
MANIFESTS = Path(__file__).parents[2] / "manifests"


def test_purchase_import_file_is_checked_as_purchases() -> None:
    reports = check_job_files(job_types()["purchase_import"], {"file": "wrong_types.jsonl"}, CORPUS)
    assert [(r.kind, r.param, r.file, r.ok) for r in reports] == [
        ("purchases", "file", CORPUS / "wrong_types.jsonl", False)
    ]


@pytest.mark.parametrize("flag", [1, "1", True, "true"])
def test_import_with_signup_dates_checks_the_file_as_signup_dates(flag: object) -> None:
    params = {"list": "L", "file": "signup_dates_unix.csv", "signup_dates": flag}
    [report] = check_job_files(job_types()["import"], params, CORPUS)
    assert report.kind == "signup_dates"
    assert "UNIX timestamp" in report.summary()


def test_import_file_is_a_list_of_emails() -> None:
    [report] = check_job_files(job_types()["import"], {"list": "L", "file": "emails.txt"}, CORPUS)
    assert (report.kind, report.ok, report.lines) == ("emails", True, 3)
    params = {"list": "L", "file": "emails.txt", "signup_dates": 0}
    assert check_job_files(job_types()["import"], params, CORPUS)[0].kind == "emails"


def test_absolute_paths_expressions_and_other_jobs(tmp_path: Path) -> None:
    absolute = str(CORPUS / "valid.jsonl")
    assert check_job_files(job_types()["purchase_import"], {"file": absolute}, tmp_path)[0].ok
    expression = {"file": "${{ jobs.x.outputs.path }}"}
    assert check_job_files(job_types()["purchase_import"], expression, tmp_path) == []
    assert check_job_files(job_types()["import"], {"list": "L", "emails": "a@b.co"}, tmp_path) == []
    assert check_job_files(job_types()["export_list_data"], {"list": "L"}, tmp_path) == []


def test_the_repositorys_manifests_pass_the_deep_check() -> None:
    for manifest in sorted(MANIFESTS.glob("*.yaml")):
        assert check_manifest_files(load_manifest(manifest)) == [], manifest


def test_deep_check_points_at_the_file_parameter(tmp_path: Path) -> None:
    for name in ("wrong_types.jsonl", "valid.jsonl", "emails_no_valid.csv", "emails_invalid.txt"):
        shutil.copy(CORPUS / name, tmp_path / name)
    manifest = tmp_path / "backfill.yaml"
    manifest.write_text(
        "version: 1\n"
        "name: backfill\n"
        "jobs:\n"
        "  good:\n"
        "    job: purchase_import\n"
        "    file: valid.jsonl\n"
        "  bad:\n"
        "    job: purchase_import\n"
        "    file: wrong_types.jsonl\n"
        "  skipped:\n"
        "    job: purchase_import\n"
        "    file: wrong_types.jsonl\n"
        '    preflight: "off"\n'
        "  people:\n"
        "    job: import\n"
        "    list: Main\n"
        "    file: emails_no_valid.csv\n"
        "    preflight: warn\n"
        "  skips:\n"
        "    job: import\n"
        "    list: Main\n"
        "    file: emails_invalid.txt\n"
    )
    problems = check_manifest_files(load_manifest(manifest))
    # The totals at the parameter, then each problem at its line of the data file, where an
    # editor (file:line:col) or a GitHub annotation takes the reader.
    assert [problem.render() for problem in problems] == [
        f"{manifest}:9:11: jobs.bad.file: 2 of 3 lines invalid; line 2: items[0].price: "
        'expected an integer number of cents, got "12.99"',
        f"{tmp_path}/wrong_types.jsonl:2:1: jobs.bad.file: items[0].price: expected an "
        'integer number of cents, got "12.99"',
        f"{tmp_path}/wrong_types.jsonl:3:1: jobs.bad.file: email: expected a string, got a "
        'list ["user3@example.com"]',
        # The file's own warnings come first, at their line of the file.
        f"{tmp_path}/emails_no_valid.csv:3:1: warning: jobs.people.file: email: not a "
        'valid email address, skipped by the import: "bob at example.org"',
        # preflight: warn → the refusal is a warning: shown, the manifest stays valid.
        f"{manifest}:17:11: warning: jobs.people.file: no valid email address in 2 lines, so "
        "the import would add nobody (each line is skipped; first: line 2: email: empty, "
        'skipped by the import); write one address per line, or a CSV whose "email" column '
        "holds the addresses",
        # Lines the import skips, in a file that has addresses: warnings, one per kind.
        f"{tmp_path}/emails_invalid.txt:2:1: warning: jobs.skips.file: not a valid email "
        'address, skipped by the import: "not-an-address"; 2 more lines with the same warning',
    ]
    assert [problem.is_error for problem in problems] == [True, True, True, False, False, False]


def test_validate_deep_points_editors_and_annotations_at_the_data_file_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from runner.cli import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeds").mkdir()
    shutil.copy(CORPUS / "bad_json.jsonl", tmp_path / "feeds" / "data.jsonl")
    (tmp_path / "feeds" / "signups.csv").write_text(
        "email,name\nada@example.com,Ada\nbob@example.com,Bob\nnot-an-email,X\n"
    )
    (tmp_path / "m.yaml").write_text(
        "version: 1\nname: deep\njobs:\n"
        "  purchases: {job: purchase_import, file: feeds/data.jsonl}\n"
        "  signups: {job: import, list: Main, file: feeds/signups.csv}\n"
    )
    text = CliRunner().invoke(cli, ["validate", "--deep", "m.yaml"])
    assert text.exit_code == 2
    assert text.stdout.splitlines() == [
        "m.yaml:4:43: jobs.purchases.file: 2 of 3 lines invalid; line 2: invalid JSON: the "
        "object is cut off before its end",
        "feeds/data.jsonl:2:1: jobs.purchases.file: invalid JSON: the object is cut off "
        "before its end",
        "feeds/data.jsonl:3:1: jobs.purchases.file: invalid JSON: expected ':' at column 10",
        "feeds/signups.csv:4:1: warning: jobs.signups.file: email: not a valid email "
        'address, skipped by the import: "not-an-email"',
    ]
    github = CliRunner().invoke(cli, ["validate", "--deep", "--format", "github", "m.yaml"])
    assert "::error file=feeds/data.jsonl,line=3,col=1::jobs.purchases.file: invalid JSON" in (
        github.stdout
    )
    assert "::warning file=feeds/signups.csv,line=4,col=1::jobs.signups.file: " in github.stdout


def test_validate_deep_exits_0_when_only_warn_jobs_have_file_problems(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from runner.cli import cli

    shutil.copy(CORPUS / "emails_no_valid.txt", tmp_path / "emails_no_valid.txt")
    manifest = tmp_path / "people.yaml"
    manifest.write_text(
        "version: 1\nname: people\njobs:\n  people:\n    job: import\n    list: Main\n"
        "    file: emails_no_valid.txt\n    preflight: warn\n"
    )
    warned = CliRunner().invoke(cli, ["validate", "--deep", str(manifest)])
    assert warned.exit_code == 0, warned.output
    assert ": warning: jobs.people.file: no valid email address in 3 lines" in warned.output
    github = CliRunner().invoke(cli, ["validate", "--deep", "--format", "github", str(manifest)])
    assert github.output.startswith("::warning file=")

    manifest.write_text(manifest.read_text().replace("preflight: warn", "preflight: on"))
    refused = CliRunner().invoke(cli, ["validate", "--deep", str(manifest)])
    assert refused.exit_code == 2
    assert ": warning:" not in refused.output


def test_the_check_and_its_workers_do_not_load_pydantic() -> None:
    """Each worker process and the check itself stay small (bench/preflight.py's RSS)."""
    import subprocess
    import sys

    code = "import sys, runner.preflight.checks, runner.preflight.pool; sys.exit('pydantic' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0
