import csv
import json

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.problems import ManifestError

MANIFEST = """
version: 1
name: loyalty-engagement
defaults:
  poll: {initial: 0.1s, max: 0.5s}
jobs:
  members:
    job: acme_member_export
    file: members.jsonl
    columns: [engagement, opens]
    on_success:
      - download: {path: exports/members.csv}
"""


def write_members(folder, *members):
    lines = [json.dumps(member) for member in members]
    (folder / "members.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("opens]", "opnes]"), ":10:5: jobs.members.columns: Unknown column: opnes"),
        (("    file: members.jsonl\n", ""), ":7:3: jobs.members: file is required"),
    ],
)
def test_validate_refuses_a_bad_job_at_its_line(tmp_path, change, said):
    manifest = tmp_path / "loyalty.yaml"
    manifest.write_text(MANIFEST.replace(*change))
    write_members(tmp_path, {"member_id": "M-1", "email": "user001@example.com"})

    done = CliRunner().invoke(cli, ["validate", str(manifest)])

    assert done.exit_code == 2
    assert f"{manifest}{said}" in done.output


def test_the_export_runs_on_the_sandbox(run_on_sandbox, tmp_path):
    write_members(
        tmp_path,
        {"member_id": "M-1", "email": "user001@example.com"},
        {"member_id": "M-2", "email": "User002@Example.com"},
        {"member_id": "M-3", "email": "not-a-customer@example.org"},
    )

    result = run_on_sandbox(MANIFEST)

    job = result.jobs["members"]
    assert result.succeeded
    assert (job.outputs["members"], job.outputs["matched"]) == (3, 2)
    with open(tmp_path / "exports" / "members.csv", newline="") as export:
        rows = list(csv.DictReader(export))
    assert [row["Member Id"] for row in rows] == ["M-1", "M-2"]
    assert list(rows[0]) == ["Member Id", "Profile Id", "Email Hash", "Engagement", "Opens"]


def test_a_run_that_matches_nobody_warns(run_on_sandbox, tmp_path):
    write_members(tmp_path, {"member_id": "M-9", "email": "nobody@example.org"})

    result = run_on_sandbox(MANIFEST)

    assert result.succeeded
    assert result.jobs["members"].warnings == [
        "no member of the file has a Sailthru profile (1 checked)"
    ]


def test_preflight_refuses_a_bad_file_before_anything_is_sent(run_on_sandbox, sandbox, tmp_path):
    write_members(
        tmp_path,
        {"member_id": "M-1", "email": "user001@example.com"},
        {"member_id": "", "email": "user002@example.com"},
    )

    with pytest.raises(ManifestError) as refused:
        run_on_sandbox(MANIFEST)

    assert "line 2: member_id: no member_id: the export is keyed by it" in str(refused.value)
    assert sandbox.submissions() == []


def test_the_sandbox_fails_a_bad_line_as_the_job_does(run_on_sandbox, tmp_path):
    write_members(tmp_path, {"member_id": "M-1", "email": "user001@example"})
    manifest = MANIFEST.replace("columns:", 'preflight: "off"\n    columns:')

    result = run_on_sandbox(manifest)

    error = result.jobs["members"].error
    assert "line 1: email: 'user001@example' is not an email address" in error
