"""Inputs besides the manifest: --var, --vars-file, --date and targets (runner.manifest.inputs)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.manifest.inputs import Inputs, inputs_from_data, make_inputs, parse_date, parse_var
from runner.manifest.loader import load_manifest
from runner.problems import ManifestError

MANIFEST = """\
version: 1
name: nightly
vars:
  list: Main Newsletter
  days: 7
  lists: [Main Newsletter]
  code: "007"
targets:
  staging:
    api_url: http://127.0.0.1:9/
    api_key_env: STAGING_KEY
    api_secret_env: STAGING_SECRET
    vars: {list: Staging Newsletter}
  production: {}
jobs:
  export-main:
    job: export_list_data
    list: ${{ vars.list }}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MANIFEST)
    return path


def test_a_var_keeps_the_type_of_the_declared_value(manifest: Path) -> None:
    inputs = make_inputs(
        var_options=("list=Weekly", "days=3", "lists=[A, B]", "code=008"),
    )
    loaded = load_manifest(manifest, inputs=inputs)
    assert loaded.manifest.vars == {
        "list": "Weekly",
        "days": 3,
        "lists": ["A", "B"],
        "code": "008",  # declared as text: stays text, leading zero and all
    }
    assert loaded.manifest.jobs["export-main"].params["list"] == "${{ vars.list }}"


def test_the_target_sets_its_vars_and_the_command_line_wins(manifest: Path, tmp_path: Path):
    staging = load_manifest(manifest, inputs=Inputs(target="staging"))
    assert staging.manifest.vars["list"] == "Staging Newsletter"
    assert staging.target is not None and staging.target.api_key_env == "STAGING_KEY"
    vars_file = tmp_path / "v.yaml"
    vars_file.write_text("list: From File\ndays: 30\n")
    inputs = make_inputs(var_options=("list=From Option",), vars_files=(str(vars_file),))
    inputs = Inputs(inputs.overrides, None, "staging", inputs.vars_files, inputs.sources)
    loaded = load_manifest(manifest, inputs=inputs)
    assert loaded.manifest.vars["list"] == "From Option"
    assert loaded.manifest.vars["days"] == 30
    assert load_manifest(manifest).target is None


def test_an_undeclared_var_is_a_problem_naming_the_declared_ones(manifest: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest, inputs=make_inputs(var_options=("lsit=x",)))
    (problem,) = caught.value.problems
    assert problem.line == 3  # `vars:`, where it would be declared
    assert "--var lsit: not a var" in problem.message
    assert "did you mean 'list'?" in problem.message
    assert "declared vars: code, days, list, lists" in problem.message


def test_bad_option_values_say_how_to_write_them() -> None:
    with pytest.raises(ValueError, match="not name=value"):
        parse_var("list")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_date("05/01/2026")
    assert parse_var("a=b=c").value == "b=c"


def test_inputs_read_back_from_their_data_repeat_the_same_command(manifest: Path) -> None:
    inputs = make_inputs(var_options=("days=3", "list=Weekly list"), date=date(2026, 1, 5))
    data = json.loads(json.dumps(inputs.as_data()))
    again = inputs_from_data(data)
    assert again.as_data() == inputs.as_data()
    assert again.command_suffix() == " --date 2026-01-05 --var days=3 --var 'list=Weekly list'"
    loaded = load_manifest(manifest, inputs=again)
    assert loaded.manifest.vars["days"] == 3


def test_plan_shows_the_date_target_and_vars(manifest: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["plan", str(manifest), "--target", "staging", "--date", "2026-01-05", "--var", "days=3"],
    )
    assert result.exit_code == 0, result.output
    assert "Target: staging" in result.output
    assert "Date: 2026-01-05 (run.date)" in result.output
    assert "Var: days = 3" in result.output
    assert "list: Staging Newsletter" in result.output


def test_plan_date_resolves_run_date_in_the_nightly_manifest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK", "https://hooks.slack.invalid/T0/B0/x")
    nightly = Path(__file__).parents[2] / "manifests" / "nightly-list-exports.yaml"
    result = CliRunner().invoke(
        cli, ["plan", str(nightly), "--date", "2026-01-05", "--format", "json", "--offline"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    paths = [job["actions"]["on_success"][0]["settings"]["path"] for job in data["jobs"]]
    assert paths == [
        "../exports/main-newsletter-20260105.csv",
        "../exports/vip-20260105.csv",
    ]
    assert data["inputs"] == {"target": None, "date": "2026-01-05", "vars": {}}


def test_a_vars_file_that_is_not_a_mapping_is_one_problem(tmp_path: Path) -> None:
    bad = tmp_path / "v.yaml"
    bad.write_text("- list\n")
    with pytest.raises(ManifestError, match="a vars file is a mapping"):
        make_inputs(vars_files=(str(bad),))


def test_the_schema_accepts_targets_and_refuses_unknown_target_keys() -> None:
    import jsonschema
    import yaml

    from runner.manifest.schema import manifest_schema

    schema = manifest_schema()
    jsonschema.validate(yaml.safe_load(MANIFEST), schema)
    bad = yaml.safe_load(MANIFEST)
    bad["targets"]["staging"]["api_key"] = "a value, not a name"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
