"""A job type that deletes data runs only when the reviewed manifest says ``confirm: true``:
without it the manifest is invalid (so ``run`` sends nothing), ``confirm`` on another type is
an error too, and ``plan`` marks every job that deletes data, in text, Markdown and JSON.
Tested with a plugin's type, since the mechanism is the type's ``destructive`` flag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.hookspecs import hookimpl
from runner.jobtypes import JobType, StrictParams
from runner.manifest.loader import load_manifest
from runner.manifest.planner import build_plan
from runner.manifest.render import render_json, render_markdown, render_text

from .conftest import problems_of


class PurgeParams(StrictParams):
    segment: str | None = None


class Purge(JobType):
    name = "acme_purge"
    params_model = PurgeParams
    destructive = True


class PurgePlugin:
    @hookimpl
    def sailjobs_job_types(self) -> list[JobType]:
        return [Purge()]


@pytest.fixture(autouse=True)
def purge_type() -> None:
    from runner.plugins import get_plugin_manager

    get_plugin_manager().register(PurgePlugin(), name="acme-purge")


def manifest(tmp_path: Path, job: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(f"version: 1\nname: purge\njobs:\n  purge:\n{job}")
    return path


def problems(path: Path) -> list[str]:
    return [line for line in problems_of(path) if ": warning:" not in line]


def test_without_confirm_the_job_is_refused_at_its_type(tmp_path: Path) -> None:
    path = manifest(tmp_path, "    job: acme_purge\n    segment: old\n")
    assert problems(path) == [
        "5:10: jobs.purge.job: acme_purge deletes data in Sailthru, which cannot be undone; "
        "once the manifest is reviewed, write `confirm: true` on the job to let it run"
    ]


def test_confirm_must_be_written_true_and_only_on_a_type_that_deletes(tmp_path: Path) -> None:
    assert problems(manifest(tmp_path, "    job: acme_purge\n    confirm: true\n")) == []
    written = problems(manifest(tmp_path, "    job: acme_purge\n    confirm: yes\n"))
    assert any("jobs.purge.confirm: expected true or false" in line for line in written)
    from_vars = problems(manifest(tmp_path, "    job: acme_purge\n    confirm: ${{ vars.x }}\n"))
    assert from_vars and all("confirm" in line for line in from_vars)
    other = problems(manifest(tmp_path, "    job: export_scheduled_sends\n    confirm: true\n"))
    assert other == [
        "6:14: jobs.purge.confirm: `confirm` is for job types that delete data (acme_purge, "
        "delete_content, list_erase); export_scheduled_sends deletes nothing: remove it"
    ]


def test_run_sends_nothing_without_confirm(tmp_path: Path, sandbox: Any) -> None:
    path = manifest(tmp_path, "    job: acme_purge\n")
    env = {"SAILTHRU_API_KEY": sandbox.api_key, "SAILTHRU_API_SECRET": sandbox.secret,
           "SAILTHRU_API_URL": sandbox.url}  # fmt: skip
    result = CliRunner().invoke(cli, ["run", str(path), "--state", str(tmp_path / "s")], env=env)
    assert result.exit_code == 2, result.output
    assert "write `confirm: true` on the job" in result.output
    assert sandbox.submissions() == []


def test_plan_marks_the_jobs_that_delete_data(tmp_path: Path) -> None:
    path = manifest(tmp_path, "    job: acme_purge\n    confirm: true\n"
                              "  keep:\n    job: export_scheduled_sends\n")  # fmt: skip
    plan = build_plan(load_manifest(path))
    text = render_text(plan, {})
    assert "  purge  [acme_purge]  DELETES DATA (confirm: true)" in text.splitlines()
    assert "  keep  [export_scheduled_sends]" in text.splitlines()
    assert "| purge | acme_purge **deletes data** |" in render_markdown(plan, {})
    jobs = {job["id"]: job for job in json.loads(render_json(plan, {}))["jobs"]}
    assert (jobs["purge"]["destructive"], jobs["keep"]["destructive"]) == (True, False)


def test_what_it_deletes_is_written_out_not_read_from_vars_or_env(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nname: purge\nvars: {segment: old}\njobs:\n"
        "  purge:\n    job: acme_purge\n    confirm: true\n    segment: ${{ vars.segment }}\n"
    )
    assert problems(path) == [
        "8:14: jobs.purge.segment: acme_purge deletes data: write this value out in the "
        "manifest, not as ${{ }} (a --var or an environment variable could change what it "
        "deletes after the manifest was reviewed)"
    ]
    each = tmp_path / "each.yaml"  # for_each values are written in the manifest: fine
    each.write_text(
        "version: 1\nname: purge\njobs:\n  purge:\n    job: acme_purge\n    confirm: true\n"
        "    for_each: [old, older]\n    segment: ${{ each.value }}\n"
    )
    assert problems(each) == []
