"""What a plan file holds (frozen values, secrets kept out, its schema), how it is recognised,
what applying it refuses, and ``plan --format markdown``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from runner import __version__
from runner.cli import cli
from runner.manifest.loader import load_manifest
from runner.manifest.planfile import (
    PlanFileError,
    checksum,
    is_plan_file,
    load_saved_plan,
    plan_file_data,
    read_plan_file,
    write_plan_file,
)
from runner.manifest.planner import build_plan

pytestmark = pytest.mark.usefixtures("test_actions")  # the `note` action of notify

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "plan-file.schema.json").read_text()
)
NOW = datetime(2026, 1, 5, 6, 30, tzinfo=UTC)
ENV = {
    "REGION": "eu",
    "SLACK_WEBHOOK": "https://hooks.example/T000/very-secret-path",
    "VENDOR_CODE": "code-that-is-listed-secret",
    "CHAT_URL": "https://chat.example/hooks/abc123xyz789",
}

MANIFEST = """
version: 1
name: frozen
secrets: [VENDOR_CODE]
vars:
  region: ${{ env.REGION }}
  hook: ${{ env.SLACK_WEBHOOK }}
  since: ${{ run.date | days_ago(40) | yyyymmdd }}
jobs:
  purchases:
    job: export_purchase_log
    start_date: ${{ vars.since }}
    end_date: ${{ run.date | yyyymmdd }}
    split: true
    on_success:
      - download: {path: "out/${{ vars.region }}-${{ run.id }}.csv"}
  signups:
    job: import
    list: "${{ vars.hook | upper }} ${{ env.VENDOR_CODE }} ${{ vars.region | upper }}"
    emails: a@example.com
  after:
    job: export_list_data
    list: ${{ jobs.signups.outputs.job_id }}
notify:
  always:
    - note: {text: "ended ${{ run.started_at }}"}
    - chat: {webhook: "${{ env.CHAT_URL }}", title: "${{ env.REGION }}"}
"""


def _data(path: Path, env: dict[str, str] = ENV) -> dict[str, Any]:
    loaded = load_manifest(path)
    return plan_file_data(build_plan(loaded), path.parent / "plan.json", env, NOW)


def _save(path: Path) -> Path:
    plan = path.parent / "plan.json"
    write_plan_file(plan, _data(path))
    return plan


def test_known_values_are_frozen_and_run_time_ones_kept_as_expressions(write) -> None:
    data = _data(write(MANIFEST))
    jobs = {job["id"]: job for job in data["jobs"]}
    assert data["run_date"] == "2026-01-05"
    # run.date and every filter over it, and non-secret env values: frozen.
    assert jobs["purchases"]["params"] == {"start_date": "20251126", "end_date": "20260105"}
    assert jobs["purchases"]["actions"]["on_success"][0]["settings"] == {
        "path": "out/eu-${{ run.id }}.csv"
    }
    # Secrets (by name, by `secrets:`, and through a var and a filter), job outputs and
    # run.started_at: kept as written, resolved at run time.
    assert jobs["signups"]["params"]["list"] == (
        "${{ vars.hook | upper }} ${{ env.VENDOR_CODE }} EU"
    )
    assert jobs["after"]["params"] == {"list": "${{ jobs.signups.outputs.job_id }}"}
    assert data["notify"]["always"][0]["settings"] == {"text": "ended ${{ run.started_at }}"}
    # A credential setting (the chat webhook) is a secret whatever its env variable's name.
    assert data["notify"]["always"][1]["settings"] == {
        "webhook": "${{ env.CHAT_URL }}",
        "title": "eu",
    }
    assert data["vars"] == {
        "region": "eu",
        "hook": "${{ env.SLACK_WEBHOOK }}",
        "since": "20251126",
    }
    assert data["env"] == {
        "read": ["CHAT_URL", "REGION", "SLACK_WEBHOOK", "VENDOR_CODE"],
        "re_read_at_run_time": ["CHAT_URL", "SLACK_WEBHOOK", "VENDOR_CODE"],
    }


def test_a_plan_file_holds_no_secret_value_and_matches_its_schema(write) -> None:
    plan = _save(write(MANIFEST))
    text = plan.read_text()
    for name in ("SLACK_WEBHOOK", "VENDOR_CODE", "CHAT_URL"):
        assert ENV[name] not in text and ENV[name].upper() not in text
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(json.loads(text), SCHEMA)
    assert is_plan_file(plan)


def test_a_plan_file_is_recognised_by_its_content_not_its_name(write) -> None:
    plan = _save(write(MANIFEST))
    renamed = plan.rename(plan.with_name("reviewed.yaml"))
    assert is_plan_file(renamed)
    compact = plan.with_name("compact.json")  # as another tool may write it again
    compact.write_text(json.dumps(json.loads(renamed.read_text()), separators=(",", ":")))
    assert is_plan_file(compact)
    assert not is_plan_file(write('{"version": 1, "name": "json manifest", "jobs": {}}', "m.json"))
    assert not is_plan_file(plan.with_name("missing.json"))


def test_applying_puts_the_planned_values_in_place_of_the_manifest_ones(write) -> None:
    path = write(MANIFEST)
    loaded, jobs, saved = load_saved_plan(_save(path))
    assert jobs == ["purchases", "signups", "after"]
    assert loaded.manifest.jobs["purchases"].params == {
        "start_date": "20251126",
        "end_date": "20260105",
    }
    # What is left to read at run time is only the secrets (and no longer REGION).
    assert build_plan(loaded).required_env == {"CHAT_URL", "SLACK_WEBHOOK", "VENDOR_CODE"}
    assert saved.remake_command() == f"sailjobs plan {path} --out {path.parent / 'plan.json'}"


def test_a_changed_plugin_set_or_version_is_refused_line_by_line(write) -> None:
    path = write(MANIFEST)
    plan = _save(path)
    data = json.loads(plan.read_text())
    data["plugins"] = [p for p in data["plugins"] if p["name"] != "s3"] + [
        {"name": "gone-plugin", "version": "1.0"}
    ]
    data["plugins"][0]["version"] = "0.0.1"
    data["sailjobs_version"] = "0.0.9"
    data["checksum"] = checksum(data)
    plan.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as caught:
        load_saved_plan(plan)
    first = data["plugins"][0]["name"]
    remake = f"make a new plan: `{read_plan_file(plan).remake_command()}`"
    assert caught.value.lines == [
        f"plugin {first} is 0.1.0 now, 0.0.1 when the plan was made; {remake}",
        f"plugin gone-plugin 1.0 was installed when the plan was made and is not now; "
        f"install it again, or {remake}",
        f"plugin s3 0.1.0 was installed since the plan was made; {remake}",
        f"sailjobs is {__version__} now, 0.0.9 when the plan was made; {remake}",
    ]


def test_a_file_that_is_not_json_or_not_a_plan_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "plan.json"
    broken.write_text('{"format": "sailjobs-plan", ')
    with pytest.raises(PlanFileError) as caught:
        read_plan_file(broken)
    assert len(caught.value.lines) == 1
    assert caught.value.lines[0].startswith(f"{broken}: cannot read the plan file (")


@pytest.mark.parametrize(
    "extra", [["--only", "signups"], ["--exclude", "signups"], ["--date", "2026-01-05"]]
)
def test_run_refuses_a_selection_or_inputs_on_top_of_a_saved_plan(
    write, tmp_path: Path, extra: list[str]
) -> None:
    plan = _save(write(MANIFEST))
    result = CliRunner().invoke(cli, ["run", str(plan), *extra, "--state", str(tmp_path / "st")])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"error: {plan} is a saved plan: its jobs and inputs were chosen when it was made; "
        "make a new plan with the selection or inputs instead"
    )


HOSTILE = """
version: 1
name: "release <b>| `x` [click](https://evil.example)"
vars:
  hook: ${{ env.SLACK_WEBHOOK }}
jobs:
  signups:
    job: import
    list: "VIP | <img src=x> ${{ vars.hook }}"
    emails: a@example.com
  export:
    job: export_list_data
    list: VIP
    needs: [signups]
    on_success:
      - download: {path: out/vip.csv}
"""


def test_markdown_is_a_pull_request_comment_with_the_graph(write, monkeypatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    path = write(HOSTILE)
    result = CliRunner().invoke(cli, ["plan", str(path), "--format", "markdown"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert ENV["SLACK_WEBHOOK"] not in text and "very-secret-path" not in text
    lines = text.splitlines()
    assert lines[0] == "### Plan: release &lt;b&gt;\\| \\`x\\` \\[click\\](https://evil.example)"
    assert f"manifest {path}, 2 jobs in 2 steps" in lines
    assert "| Job | Type | Needs | Parameters |" in lines
    assert (
        "| signups | import | - | list: VIP \\| &lt;img src=x&gt; ***<br>emails: a@example.com |"
        in lines
    )
    assert "| export | export_list_data | signups | list: VIP |" in lines
    assert "- export on_success: download {path: out/vip.csv}" in lines
    fence = lines.index("```mermaid")
    assert lines[fence + 1] == "flowchart LR"
    assert lines[-1] == "```"


def test_a_manifest_changed_into_an_invalid_one_is_reported_as_changed(write) -> None:
    path = write(MANIFEST)
    plan = _save(path)
    path.write_text("version: 1\njobs: [not, a, mapping]\n")
    with pytest.raises(PlanFileError) as caught:
        load_saved_plan(plan)
    assert caught.value.lines == [
        f"{path} changed since the plan {plan} was made; make a new plan: "
        f"`sailjobs plan {path} --out {plan}`"
    ]


def test_a_checksummed_plan_file_missing_its_jobs_is_one_line(write) -> None:
    plan = _save(write(MANIFEST))
    data = json.loads(plan.read_text())
    del data["jobs"]
    data["checksum"] = checksum(data)
    plan.write_text(json.dumps(data))
    with pytest.raises(PlanFileError) as caught:
        load_saved_plan(plan)
    assert caught.value.lines == [
        f"{plan}: not a complete plan file (KeyError: 'jobs'); make a new plan: "
        f"`sailjobs plan {plan.parent / 'm.yaml'} --out {plan}`"
    ]


def test_a_referenced_file_that_is_gone_is_named(write) -> None:
    path = write(MANIFEST.replace("emails: a@example.com", "file: people.csv"))
    (path.parent / "people.csv").write_text("email\na@example.com\n")
    plan = _save(path)
    assert json.loads(plan.read_text())["files"][0]["path"] == "people.csv"
    (path.parent / "people.csv").unlink()
    with pytest.raises(PlanFileError) as caught:
        load_saved_plan(plan)
    assert caught.value.lines == [
        f"{path.parent / 'people.csv'} (jobs.signups.file) is gone since the plan was made; "
        f"make a new plan: `sailjobs plan {path} --out {plan}`"
    ]


def test_a_value_that_resolves_to_an_expression_is_refused_not_frozen(
    write, monkeypatch, tmp_path: Path
) -> None:
    # Frozen, the text would be evaluated when the plan is applied: a value read from the
    # environment could make the run read (and send) a secret.
    monkeypatch.setenv("LIST_NAME", "${{ env.SAILTHRU_API_SECRET }}")
    path = write(
        """
        version: 1
        name: smuggle
        vars:
          list: ${{ env.LIST_NAME }}
        jobs:
          a: {job: export_list_data, list: "${{ vars.list }}"}
        """
    )
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{path}:6:36: jobs.a.list: ${{{{ vars.list }}}} resolves to text holding `${{{{`, "
        "which a plan file cannot keep apart from an expression; change the value (making "
        "the plan file)"
    ]
    assert not out.exists()


def test_markdown_names_what_the_plan_was_made_with(write, tmp_path: Path) -> None:
    path = write(
        """\
        version: 1
        name: m
        vars: {list: Main, with_sends: false}
        targets:
          staging: {vars: {list: Staging}}
        jobs:
          export:
            job: export_list_data
            list: ${{ vars.list }}
          sends:
            job: export_scheduled_sends
            if: vars.with_sends
        """
    )
    result = CliRunner().invoke(
        cli,
        ["plan", str(path), "--format", "markdown", "--offline", "--target", "staging",
         "--date", "2026-01-05", "--var", "with_sends=false", "--select", "export sends",
         "--state", str(tmp_path / "st")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"manifest {path}, target staging, run.date 2026-01-05, 2 jobs in 1 step" in lines
    assert "- var with_sends: false" in lines
    assert "- selected: --select export sends" in lines
    assert "| export | export_list_data | - | list: Staging |" in lines
    assert (
        "| sends | export_scheduled_sends | - | **skipped**: if: vars.with_sends was false |"
        in (lines)
    )


CONDITIONS = """
version: 1
name: conditions
defaults:
  timeout: 2m
  poll: {initial: 0.05s, max: 0.2s}
jobs:
  a:
    job: export_list_data
    list: Main Newsletter
  b:
    job: export_scheduled_sends
    if: jobs.a.outputs.filename != ''
  dated:
    job: export_scheduled_sends
    if: run.date == '2026-01-05' and env.MODE == 'full'
"""


def test_a_plan_freezes_what_its_conditions_decide_and_keeps_their_job_edges(write):
    data = _data(write(CONDITIONS), {"MODE": "full"})  # made on 2026-01-05, MODE=full
    jobs = {job["id"]: job for job in data["jobs"]}
    assert jobs["dated"]["if"] is True  # decided with the plan's run.date and env
    assert jobs["b"]["if"].replace(" ", "") == "${{jobs.a.outputs.filename!=''}}"  # at run time
    assert jobs["b"]["needs"] == ["a"]


def test_an_applied_plan_runs_as_planned_on_another_day_in_order(write, tmp_path: Path):
    from runner.executor.lifecycle import run
    from runner.sandbox import Sandbox

    path = write(CONDITIONS)
    plan = path.parent / "plan.json"
    write_plan_file(plan, _data(path, {"MODE": "full"}))
    with Sandbox(job_time=0.2) as box:  # applied today, with MODE unset
        result = run(
            plan,
            env={"SAILTHRU_API_KEY": box.api_key, "SAILTHRU_API_SECRET": box.secret,
                 "SAILTHRU_API_URL": box.url},
            state=tmp_path / "st",
        )  # fmt: skip
    statuses = {job_id: job.status.value for job_id, job in result.jobs.items()}
    assert statuses == {"a": "succeeded", "b": "succeeded", "dated": "succeeded"}, [
        job.error for job in result.jobs.values()
    ]
    assert result.jobs["b"].submitted_at >= result.jobs["a"].finished_at  # b waited for a
    assert result.logical_date is not None and result.logical_date.isoformat() == "2026-01-05"


def test_a_targets_secret_variable_is_never_written_into_a_plan(write) -> None:
    path = write(
        """
        version: 1
        name: t
        targets:
          staging: {api_key_env: STG_K, api_secret_env: STG_S}
        jobs:
          a:
            job: export_list_data
            list: Main Newsletter
            on_success:
              - download: {path: "out-${{ env.STG_S }}.csv"}
        """
    )
    from runner.manifest.inputs import Inputs

    loaded = load_manifest(path, inputs=Inputs(target="staging"))
    data = plan_file_data(build_plan(loaded), path.parent / "plan.json", {"STG_S": "s3cr3t"}, NOW)
    assert "s3cr3t" not in json.dumps(data)
    (job,) = data["jobs"]
    assert job["actions"]["on_success"][0]["settings"]["path"] == "out-${{ env.STG_S }}.csv"
