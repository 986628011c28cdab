"""Warnings of the API contract (a case the API page is silent on) reach the user at every
stage and never refuse: `plan` and `run` show them, and one known only at submission (an
expression's value) is shown then, once."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner

from runner.cli import cli
from runner.executor.progress import LineProgress

MANIFEST = """
version: 1
name: warnings
vars:
  algo: SHA256
jobs:
  written:
    job: export_list_data
    list: VIP
    hash_algo: SHA256
  resolved:
    job: export_list_data
    list: VIP
    hash_algo: ${{ vars.algo }}
"""
WARNING = "write 'sha256' as the API page does, not 'SHA256'"


def write(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    return path


def test_plan_shows_the_warning_and_exits_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(write(tmp_path))])
    assert result.exit_code == 0, result.output
    assert f"m.yaml:10:16: warning: jobs.written.hash_algo: {WARNING}" in result.stderr


def test_run_shows_each_warning_once_and_succeeds(tmp_path: Path, run_on_sandbox) -> None:
    stream = io.StringIO()
    result = run_on_sandbox(write(tmp_path), progress=LineProgress(stream))
    assert result.succeeded, result
    output = stream.getvalue()
    # The written value's warning once, when the manifest loads; the resolved one when the
    # job is submitted, and again in the summary's list of job warnings.
    assert output.count(f"warning: jobs.written.hash_algo: {WARNING}") == 1, output
    assert output.count(f"resolved: hash_algo: {WARNING}") == 1, output
    assert output.count(f"resolved: warning: hash_algo: {WARNING}") == 1, output
    assert output.count(WARNING) == 3, output
    assert result.jobs["resolved"].warnings == [f"hash_algo: {WARNING}"]
    assert result.jobs["written"].warnings == []  # shown when the manifest loaded


def test_a_warning_known_at_load_is_not_repeated_at_submission(tmp_path, run_on_sandbox) -> None:
    """Two sources, one of them an expression: the warning needs no value, so validate gave
    it already; submission does not give it again."""
    path = tmp_path / "two.yaml"
    path.write_text(
        "version: 1\nname: two\nvars: {emails: ada@example.com}\njobs:\n"
        "  both: {job: import, list: L, emails: '${{ vars.emails }}', file: users.txt}\n"
    )
    (tmp_path / "users.txt").write_text("bob@example.com\n")
    stream = io.StringIO()
    result = run_on_sandbox(path, progress=LineProgress(stream))
    assert result.succeeded, result
    assert stream.getvalue().count("not emails and file") == 1, stream.getvalue()
    assert result.jobs["both"].warnings == []
