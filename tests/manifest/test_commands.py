"""The validate, plan and schema commands, and the example manifests against the schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.manifest.yamlsource import load_yaml_file

REPO = Path(__file__).parent.parent.parent
EXAMPLES = sorted((REPO / "manifests").glob("*.yaml"))

VALID = """
version: 1
name: ok
jobs:
  export-main: {job: export_list_data, list: Main Newsletter}
  tagged:
    job: import
    list: "Exported ${{ jobs.export-main.outputs.job_id }}"
    emails: audit@example.com
    postback_url: ${{ env.SAILJOBS_TEST_POSTBACK }}
"""
INVALID = """
version: 1
name: bad
jobs:
  export-main: {job: export_list_data, hash_algo: sha1}
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "good.yaml").write_text(VALID)
    (tmp_path / "pipelines" / "nested").mkdir()
    (tmp_path / "pipelines" / "nested" / "bad.yml").write_text(INVALID.lstrip())
    (tmp_path / "pipelines" / "notes.txt").write_text("not a manifest")
    return tmp_path


def test_validate_a_valid_file_exits_0(folder):
    result = invoke("validate", "pipelines/good.yaml")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "1 manifest valid\n"


def test_validate_a_folder_finds_yaml_and_yml_recursively(folder):
    result = invoke("validate", "pipelines")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        "pipelines/nested/bad.yml:4:3: jobs.export-main.list: add `list`, the name of the "
        'list to export (the API would answer error 2 "Missing required parameter: list")',
        "pipelines/nested/bad.yml:4:51: warning: jobs.export-main.hash_algo: 'sha1' is not a "
        "documented hash_algo (md5, the default, or sha256); what the API does with it is "
        "undocumented",
    ]
    assert result.stderr == "1 problem in 1 of 2 manifests\n"  # a warning is not counted


def test_validate_github_annotations(folder):
    result = invoke("validate", "--format", "github", "pipelines/nested/bad.yml")
    assert result.exit_code == 2
    first, second = result.stdout.splitlines()
    assert first.startswith("::error file=pipelines/nested/bad.yml,line=4,col=3::")
    assert second == (
        "::warning file=pipelines/nested/bad.yml,line=4,col=51::jobs.export-main.hash_algo: "
        "'sha1' is not a documented hash_algo (md5, the default, or sha256); what the API "
        "does with it is undocumented"
    )


def test_github_annotation_properties_are_escaped():
    from runner.problems import Problem

    problem = Problem("pipes/a,b:c%.yaml", 3, 7, "jobs.x", "50% off\nnext line")
    assert problem.render_github() == (
        "::error file=pipes/a%2Cb%3Ac%25.yaml,line=3,col=7::jobs.x: 50%25 off%0Anext line"
    )


def test_validate_usage_errors_exit_2(folder):
    missing = invoke("validate", "nope.yaml")
    assert missing.exit_code == 2
    assert missing.stderr == "sailjobs validate: nope.yaml: no such file or folder\n"
    (folder / "empty").mkdir()
    empty = invoke("validate", "empty")
    assert empty.exit_code == 2
    assert "no *.yaml or *.yml manifests" in empty.stderr
    assert invoke("validate").exit_code == 2


def test_validate_needs_no_env(folder, monkeypatch):
    monkeypatch.delenv("SAILJOBS_TEST_POSTBACK", raising=False)
    assert invoke("validate", "pipelines/good.yaml").exit_code == 0


def test_plan_names_every_missing_env_variable(folder, monkeypatch):
    monkeypatch.delenv("SAILJOBS_TEST_POSTBACK", raising=False)
    result = invoke("plan", "pipelines/good.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "pipelines/good.yaml: missing environment variable SAILJOBS_TEST_POSTBACK; set it "
        "(or give a fallback with `| default(...)`)\n"
    )


def test_plan_text_shows_ordinary_env_values(folder, monkeypatch):
    # SAILJOBS_TEST_POSTBACK says no TOKEN, SECRET, PASSWORD, KEY or WEBHOOK: not a secret.
    monkeypatch.setenv("SAILJOBS_TEST_POSTBACK", "https://hooks.example.com/ordinary")
    result = invoke("plan", "pipelines/good.yaml")
    assert result.exit_code == 0
    assert "    postback_url: https://hooks.example.com/ordinary" in result.stdout
    assert "Step 2: tagged" in result.stdout


def test_plan_text_masks_what_the_manifest_lists_under_secrets(folder, monkeypatch):
    manifest = Path("pipelines/good.yaml")
    manifest.write_text(manifest.read_text() + "secrets: [SAILJOBS_TEST_POSTBACK]\n")
    monkeypatch.setenv("SAILJOBS_TEST_POSTBACK", "https://hooks.example.com/s3cr3t-token")
    result = invoke("plan", "pipelines/good.yaml")
    assert result.exit_code == 0
    assert "s3cr3t-token" not in result.stdout
    assert "    postback_url: ***" in result.stdout


def test_plan_masks_a_credential_setting_read_from_an_env_variable_of_any_name(
    tmp_path, monkeypatch
):
    # The chat webhook is a credential (declared Field(repr=False)), whatever its env name.
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: m\njobs:\n  a: {job: export_list_data, list: VIP}\n"
        'notify:\n  always:\n    - chat: {webhook: "${{ env.SAILJOBS_TEST_CHAT_URL }}"}\n'
    )
    monkeypatch.setenv("SAILJOBS_TEST_CHAT_URL", "https://hooks.example.com/T0/B0/Xyz123tok")
    for output_format in ("text", "json"):
        result = invoke("plan", str(manifest), "--format", output_format)
        assert result.exit_code == 0, result.output
        assert "Xyz123tok" not in result.stdout and "***" in result.stdout


def test_plan_json_and_only(folder, monkeypatch):
    monkeypatch.setenv("SAILJOBS_TEST_POSTBACK", "https://hooks.example.com/s3cr3t-token")
    result = invoke("plan", "pipelines/good.yaml", "--format", "json", "--only", "export-main")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [job["id"] for job in data["jobs"]] == ["export-main"]
    assert data["required_env"] == []


def test_plan_mermaid_needs_no_env(folder, monkeypatch):
    monkeypatch.delenv("SAILJOBS_TEST_POSTBACK", raising=False)
    result = invoke("plan", "pipelines/good.yaml", "--format", "mermaid")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "  j0 -. job_id .-> j1"


def test_plan_of_an_invalid_manifest_prints_problems_and_exits_2(folder):
    result = invoke("plan", "pipelines/nested/bad.yml")
    assert result.exit_code == 2
    assert result.stdout.startswith("pipelines/nested/bad.yml:4:3: jobs.export-main.list:")


def test_schema_with_plugins_is_valid_draft_07_with_plugins():
    result = invoke("schema", "--with-plugins")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    from runner.plugins import action_types, job_types

    assert set(schema["definitions"]["job"]["properties"]["job"]["enum"]) == set(job_types())
    assert set(schema["definitions"]["action"]["properties"]) == set(action_types())


def test_schema_with_plugins_includes_a_plugin_action(test_actions):
    schema = json.loads(invoke("schema", "--with-plugins").stdout)
    note = schema["definitions"]["action_note"]
    assert set(note["properties"]) == {"continue_on_error", "if", "text", "times"}
    assert note["required"] == ["text"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_is_valid_and_matches_the_schema(example: Path, monkeypatch):
    monkeypatch.chdir(REPO)
    assert invoke("validate", f"manifests/{example.name}").exit_code == 0
    data = load_yaml_file(example).data
    for args in (["schema"], ["schema", "--with-plugins"]):
        schema = json.loads(invoke(*args).stdout)
        errors = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(data)]
        assert errors == [], args


def test_the_schema_rejects_what_validate_rejects(tmp_path: Path):
    schema = json.loads(invoke("schema", "--with-plugins").stdout)
    validator = jsonschema.Draft7Validator(schema)
    bad = {
        "version": 1,
        "name": "x",
        "jobs": {
            "Bad-Id": {"job": "export_list_data", "list": "L"},
            "a": {"job": "export_list_data", "lst": "L"},
            "b": {"job": "nope"},
            "c": {"job": "import", "list": 5},
            "d": {"job": "export_purchase_log", "start_date": 1, "end_date": 2, "split": "yes"},
        },
        "extra": 1,
    }
    assert len(list(validator.iter_errors(bad))) >= 6
    with_expressions = {
        "version": 1,
        "name": "x",
        "jobs": {"a": {"job": "import", "list": "L", "signup_dates": "${{ vars.flag }}"}},
    }
    assert list(validator.iter_errors(with_expressions)) == []


def test_validate_help_lists_options():
    result = invoke("validate", "--help")
    assert "--format [text|github]" in result.stdout
    assert "--deep" in result.stdout


def test_the_pre_commit_hook_runs_validate():
    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "sailjobs-validate")
    assert hook["entry"] == "sailjobs validate"
    assert hook["language"] == "python"
    assert "yaml" in hook["types"]
    assert hook["files"] == "(^|/)manifests/"


def test_validate_deep_checks_file_contents(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.jsonl").write_text(
        '{"email":"a@example.com","date":"2026-01-01","purchase_keys":{"extid":"x1"},'
        '"items":[{"id":"1","title":"T","price":"12.99","qty":1,"url":"https://x.example.com/p"}]}\n'
    )
    (tmp_path / "m.yaml").write_text(
        "version: 1\nname: deep\njobs:\n  backfill:\n    job: purchase_import\n    file: p.jsonl\n"
    )
    assert invoke("validate", "m.yaml").exit_code == 0
    deep = invoke("validate", "--deep", "m.yaml")
    assert deep.exit_code == 2
    assert deep.stdout.startswith("m.yaml:6:11: jobs.backfill.file: 1 of 1 lines invalid; line 1:")


class _BrokenPlugin:
    from runner.hookspecs import hookimpl

    @hookimpl
    def sailjobs_job_types(self):
        raise RuntimeError("boom")


@pytest.mark.parametrize("command", ["validate", "plan", "schema"])
def test_a_broken_plugin_is_one_line_and_exit_2(command, folder):
    from runner.plugins import get_plugin_manager

    get_plugin_manager().register(_BrokenPlugin(), name="broken-plugin")
    args = [command] if command == "schema" else [command, "pipelines/good.yaml"]
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"sailjobs {command}: plugin 'broken-plugin' failed")
    assert "Traceback" not in result.output


def test_the_schema_offers_the_documented_list_fields_and_accepts_others():
    schema = json.loads(invoke("schema").stdout)
    text = json.dumps(schema)
    assert '"geolocation_zip"' in text and '"top_device"' in text  # an editor completes them
    validator = jsonschema.Draft7Validator(schema)
    manifest = {
        "version": 1,
        "name": "x",
        "jobs": {"a": {"job": "export_list_data", "list": "L", "fields": {"opens": 1}}},
    }
    assert list(validator.iter_errors(manifest)) == []
    # An undocumented field is a warning of `validate`, not an error: the schema takes it.
    manifest["jobs"]["a"]["fields"] = {"opns": 1, "vars": {"userId": 1}}
    assert list(validator.iter_errors(manifest)) == []


def test_the_readme_ci_command_passes_on_the_repository_manifests(monkeypatch):
    """`sailjobs validate manifests/` (README, CI): every example is valid, and
    a sandbox seed file kept beside them is named and skipped, not read as a manifest."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    result = invoke("validate", "manifests/", "--deep")
    assert result.exit_code == 0, result.output
    assert "manifests/data/rehearsal-seed.yaml: a sandbox seed file (--seed), not a manifest" in (
        result.stderr
    )


def test_only_a_file_of_seed_sections_alone_is_skipped(folder):
    from runner.manifest.folders import SEED_SECTIONS
    from runner.sandbox.seedfile import SECTIONS

    assert set(SECTIONS) == SEED_SECTIONS  # one set of names on both sides
    Path("pipelines/seed.yaml").write_text("lists: [A]\nusers: [{email: a@example.com}]\n")
    Path("pipelines/half.yaml").write_text("version: 1\nlists: [A]\n")  # a broken manifest
    result = invoke("validate", "pipelines/seed.yaml", "pipelines/half.yaml")
    assert result.exit_code == 2
    assert "pipelines/seed.yaml: a sandbox seed file" in result.stderr
    assert "pipelines/half.yaml:1:1: jobs: missing required key 'jobs'" in result.stdout


FANNED_OUT = """\
version: 1
name: fanned-out
vars:
  env: staging
  lists: [Main Newsletter, VIP]
jobs:
  export-lists:
    job: export_list_data
    for_each: ${{ vars.lists }}
    if: each.value == 'VIP' or vars.env == 'prod'
    list: ${{ each.value }}
  audit:
    job: export_scheduled_sends
    needs: export-lists
    if: ${{ jobs['export-lists[VIP]'].outputs.export_url != '' }}
"""


def test_plan_shows_each_instance_and_decides_an_if_that_reads_only_vars(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("m.yaml").write_text(FANNED_OUT)
    data = json.loads(invoke("plan", "m.yaml", "--format", "json").stdout)
    jobs = {job["id"]: job for job in data["jobs"]}
    assert list(jobs) == ["export-lists[Main Newsletter]", "export-lists[VIP]", "audit"]
    assert jobs["export-lists[VIP]"]["params"]["list"] == "VIP"
    assert jobs["export-lists[VIP]"]["if_result"] is True
    assert jobs["export-lists[Main Newsletter]"]["skipped"] == (
        "if: each.value == 'VIP' or vars.env == 'prod' was false (each.value = 'Main Newsletter')"
    )
    # reads a job's output: decided at run time; `needs: export-lists` is every instance
    assert jobs["audit"]["if_result"] is None and jobs["audit"]["skipped"] is None
    assert jobs["audit"]["needs"] == ["export-lists[Main Newsletter]", "export-lists[VIP]"]
    text = invoke("plan", "m.yaml").stdout
    assert "    skipped: if: each.value == 'VIP' or vars.env == 'prod' was false" in text
    assert "    if: ${{ jobs['export-lists[VIP]'].outputs.export_url != '' }} (decided when" in text
