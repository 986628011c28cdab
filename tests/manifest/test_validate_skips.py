"""`sailjobs validate FOLDER` checks the manifests in it and skips, one line each, the YAML
files of other tools kept there (a GitHub workflow, a docker-compose file), where it used to
report a hundred problems in them; a file named on the command line is always checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli

MANIFEST = "version: 1\nname: ok\njobs:\n  export-main: {job: export_list_data, list: Main}\n"
WORKFLOW = """\
name: ci
on:
  pull_request:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make test
"""
COMPOSE = 'version: "3.8"\nservices:\n  db:\n    image: postgres:16\n'
ADVICE = "skipped; name it on the command line to check it as a manifest"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    Path("pipelines").mkdir()
    Path("pipelines/nightly.yaml").write_text(MANIFEST)
    Path("pipelines/ci.yml").write_text(WORKFLOW)
    Path("pipelines/docker-compose.yml").write_text(COMPOSE)
    Path("pipelines/recipients.yaml").write_text("- a@example.com\n- b@example.com\n")
    return tmp_path


def test_a_folder_skips_other_tools_yaml_files_one_line_each(repo):
    result = invoke("validate", "pipelines")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"pipelines/ci.yml: a GitHub Actions workflow (`on:` and `jobs:`), not a sailjobs "
        f"manifest: {ADVICE}",
        f"pipelines/docker-compose.yml: a Docker Compose file (`services:`), not a sailjobs "
        f"manifest: {ADVICE}",
        f"pipelines/recipients.yaml: not a sailjobs manifest (a list, not a mapping with "
        f"`version: 1`): {ADVICE}",
        "1 manifest valid",
    ]


def test_a_file_named_on_the_command_line_is_checked_whatever_it_holds(repo):
    result = invoke("validate", "pipelines/ci.yml")
    assert result.exit_code == 2
    assert "skipped" not in result.stderr
    assert result.stdout.startswith("pipelines/ci.yml:")
    assert result.stderr.endswith("in 1 of 1 manifest\n")


def test_a_broken_manifest_in_a_folder_is_still_checked(repo):
    # Without its version, but with jobs and only manifest keys: a manifest, checked.
    Path("pipelines/no-version.yaml").write_text(MANIFEST.replace("version: 1\n", ""))
    # With version: 1, a misspelt key does not make it another tool's file.
    Path("pipelines/typo.yaml").write_text(MANIFEST.replace("jobs:", "jbos:"))
    Path("pipelines/empty.yaml").write_text("# the nightly exports, to be written\n")
    Path("pipelines/only-vars.yaml").write_text("vars: {list: Main}\n")
    result = invoke("validate", "pipelines")
    assert result.exit_code == 2
    assert "pipelines/no-version.yaml:1:1: version: missing required key 'version'" in (
        result.stdout
    )
    for name in ("typo", "empty", "only-vars"):
        assert f"pipelines/{name}.yaml:" in result.stdout
        assert f"{name}.yaml: " not in result.stderr
    assert result.stderr.endswith("in 4 of 5 manifests\n")


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nnotfy: {}\njobs:\n  a: {job: export_list_data, list: Main}\n",  # no version
        "version: 2\nname: x\nenv: {}\njobs: {}\n",  # another version and a typo
    ],
)
def test_a_manifest_with_two_mistakes_is_still_checked(repo, text):
    Path("pipelines/nightly.yaml").write_text(text)
    result = invoke("validate", "pipelines")
    assert result.exit_code == 2
    assert "pipelines/nightly.yaml:" in result.stdout
