"""The plan: DAG from needs and output references, ready sets, env, renderers (selections:
test_selection.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from runner.manifest.loader import load_manifest
from runner.manifest.planner import build_plan
from runner.manifest.render import render_json, render_mermaid, render_text

from .conftest import problems_of

PIPELINE = """
    version: 1
    name: pipeline
    vars: {list: Main Newsletter}
    jobs:
      export-main:
        job: export_list_data
        list: ${{ vars.list }}
        postback_url: ${{ env.POSTBACK_TOKEN }}
      purchases:
        job: export_purchase_log
        start_date: ${{ run.date | days_ago(7) | yyyymmdd }}
        end_date: ${{ run.date | yyyymmdd }}
      tagged:
        job: import
        list: "Exported ${{ jobs.export-main.outputs.job_id }}"
        emails: audit@example.com
      seeds:
        job: import
        list: Engaged
        emails: seed@example.com
        needs: [tagged, purchases]
      unrelated:
        job: export_scheduled_sends
        report_email: ${{ env.REPORT_TO | default('crm@example.com') }}
    notify:
      always:
        - note: {text: "${{ env.NOTE_PREFIX }} ${{ jobs.seeds.outputs.status }}"}
"""
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def plan(write, test_actions):
    return build_plan(load_manifest(write(PIPELINE)))


def test_topological_order_and_ready_sets(plan):
    assert plan.levels == [["export-main", "purchases", "unrelated"], ["tagged"], ["seeds"]]
    assert list(plan.jobs) == ["export-main", "purchases", "unrelated", "tagged", "seeds"]


def test_needs_include_implicit_output_references(plan):
    assert plan.needs("tagged") == {"export-main"}
    assert plan.reason("tagged", "export-main") == "job_id"
    assert plan.needs("seeds") == {"tagged", "purchases"}
    assert plan.reason("seeds", "tagged") == "needs"
    assert plan.dependents("export-main") == {"tagged"}
    assert plan.dependents("seeds") == set()
    job = plan.jobs["tagged"]
    assert (job.id, job.job_type.name, job.needs) == ("tagged", "import", {"export-main"})
    assert job.spec.params["emails"] == "audit@example.com"


def test_required_env_skips_defaults_and_names_every_missing_one(plan):
    assert plan.required_env == {"POSTBACK_TOKEN", "NOTE_PREFIX"}
    assert plan.missing_env({}) == ["NOTE_PREFIX", "POSTBACK_TOKEN"]
    assert plan.missing_env({"POSTBACK_TOKEN": "https://x.example.com"}) == ["NOTE_PREFIX"]


def test_cycles_are_reported_as_chains_with_lines(write):
    path = write(
        """
        version: 1
        name: cycles
        jobs:
          a: {job: export_list_data, list: L, needs: [c]}
          b: {job: import, list: "L ${{ jobs.a.outputs.job_id }}", emails: b@example.com}
          c: {job: import, list: L, emails: a@example.com, needs: [b]}
          d: {job: export_list_data, list: L, needs: [e]}
          e: {job: export_list_data, list: L, needs: [d]}
          f: {job: export_list_data, list: L}
        """
    )
    assert problems_of(path) == [
        "4:3: jobs.a: dependency cycle: a (line 4) -> c (line 6) -> b (line 5) -> a (line 4); "
        "remove one of these needs or output references",
        "7:3: jobs.d: dependency cycle: d (line 7) -> e (line 8) -> d (line 7); "
        "remove one of these needs or output references",
    ]


def test_a_big_chain_plans_without_recursion_limits(write):
    lines = ["version: 1", "name: chain", "jobs:"]
    for index in range(3000):
        needs = f", needs: [j{index - 1}]" if index else ""
        lines.append(f"  j{index}: {{job: export_list_data, list: L{needs}}}")
    plan = build_plan(load_manifest(write("\n".join(lines) + "\n")))
    assert len(plan.levels) == 3000
    assert plan.levels[-1] == ["j2999"]


def test_render_text_resolves_what_it_can_and_masks_secret_env(plan):
    env = {"POSTBACK_TOKEN": "https://hooks.example.com/very-secret-token", "NOTE_PREFIX": "pssst"}
    text = render_text(plan, env, now=NOW)
    assert "very-secret-token" not in text
    assert "    postback_url: ***" in text
    assert "    list: Main Newsletter" in text
    assert "    start_date: 20261120" in text
    assert "    list: Exported ${{ jobs.export-main.outputs.job_id }}" in text
    assert "    needs: export-main (reads job_id)" in text
    assert "    report_email: crm@example.com" in text
    assert text.splitlines()[:2] == [
        f"Plan: pipeline ({plan.loaded.path})",
        "5 jobs in 3 steps, up to 4 at once",
    ]
    # NOTE_PREFIX is no secret: its value is shown, for the reviewer who reads the plan.
    assert "  always: note {text: pssst ${{ jobs.seeds.outputs.status }}}" in text
    assert "Environment: NOTE_PREFIX, POSTBACK_TOKEN" in text


def test_render_json_is_data_with_secrets_masked(plan):
    env = {"POSTBACK_TOKEN": "https://hooks.example.com/very-secret-token", "NOTE_PREFIX": "note:"}
    data = json.loads(render_json(plan, env, now=NOW))
    assert data["levels"] == plan.levels
    export = data["jobs"][0]
    assert export["id"] == "export-main"
    assert export["params"]["postback_url"] == "***"
    assert export["timeout"] == "3h"
    assert export["retry"] == {"attempts": 5, "initial": "2s", "max": "2m"}
    assert (
        data["notify"]["always"][0]["settings"]["text"] == "note: ${{ jobs.seeds.outputs.status }}"
    )
    assert data["required_env"] == ["NOTE_PREFIX", "POSTBACK_TOKEN"]


def test_render_mermaid_draws_needs_and_output_reads(plan):
    assert render_mermaid(plan).splitlines() == [
        "flowchart LR",
        '  j0["export-main<br/>export_list_data"]',
        '  j1["purchases<br/>export_purchase_log"]',
        '  j2["unrelated<br/>export_scheduled_sends"]',
        '  j3["tagged<br/>import"]',
        '  j4["seeds<br/>import"]',
        "  j0 -. job_id .-> j3",
        "  j1 --> j4",
        "  j3 --> j4",
    ]


SPLIT = """
    version: 1
    name: split
    jobs:
      forty-days:
        job: export_purchase_log
        start_date: ${{ run.date | days_ago(39) | yyyymmdd }}
        end_date: ${{ run.date | yyyymmdd }}
        split: true
      one-month:
        job: export_purchase_log
        start_date: 20260101
        end_date: 20260131
        split: true
      counts:
        job: import
        list: "Parts ${{ jobs.forty-days.outputs.parts | json }}"
        emails: "${{ jobs.forty-days.outputs.rows }}@example.com"
"""


def test_a_split_job_shows_its_parts_in_the_plan(write):
    plan = build_plan(load_manifest(write(SPLIT)))
    text = render_text(plan, {}, now=NOW)
    assert (
        "    split into 2 exports of at most 31 days: 20261019-20261118, 20261119-20261127"
    ) in text
    # The parts replace the note; a range that fits one export keeps it.
    forty_days, one_month = text.split("  one-month  [")[0], text.split("  one-month  [")[1]
    assert "split if over 31 days" not in forty_days
    assert "poll 5s..5m, split if over 31 days" in one_month
    data = json.loads(render_json(plan, {}, now=NOW))
    jobs = {job["id"]: job for job in data["jobs"]}
    assert jobs["forty-days"]["split_parts"] == [
        {"start_date": "20261019", "end_date": "20261118"},
        {"start_date": "20261119", "end_date": "20261127"},
    ]
    assert jobs["one-month"]["split_parts"] is None


def test_a_split_job_offers_its_parts_and_joined_file_as_outputs(write):
    plan = build_plan(load_manifest(write(SPLIT)))
    assert plan.needs("counts") == {"forty-days"}
    outputs = plan.loaded.job_outputs("forty-days")
    assert outputs >= {"parts", "export_path", "rows", "bytes", "sha256"}


def test_a_split_job_has_no_export_url_to_read(write):
    """Its parts are joined into a local file (export_path); nothing serves it as a URL."""
    text = SPLIT.replace("end_date: 20260131", "end_date: 20260301").replace(
        "jobs.forty-days.outputs.parts", "jobs.one-month.outputs.export_url"
    )
    [problem] = problems_of(write(text))
    assert "job 'one-month' (export_purchase_log) has no output 'export_url'; " in problem
    assert "read export_path instead" in problem
    assert "export_path" in build_plan(
        load_manifest(write(SPLIT.replace("end_date: 20260131", "end_date: 20260301")))
    ).loaded.job_outputs("one-month")


def test_a_split_job_that_fits_one_export_has_no_parts(write):
    path = write(SPLIT.replace("jobs.forty-days.outputs.parts", "jobs.one-month.outputs.parts"))
    assert problems_of(path) == [
        "16:22: jobs.counts.list: job 'one-month' (export_purchase_log) has no output 'parts'; "
        "its range fits in one export of 31 days, so it has no parts; outputs: end_time, "
        "export_url, filename, job_id, name, start_time, status"
    ]


EXPORT_FED = """
    version: 1
    name: export-fed
    jobs:
      export-main:
        job: export_list_data
        list: Main Newsletter
        on_success:
          - fetch: {path: out/main.csv}
      copy:
        job: import
        list: Copy
        url: "${{ jobs.export-main.outputs.export_url }}"
"""


def test_an_import_fed_by_an_export_is_an_error_at_the_reference(write, test_actions):
    [problem] = problems_of(write(EXPORT_FED))
    assert problem.startswith(
        "12:15: jobs.copy.url: jobs.export-main.outputs.export_url is the file of an export "
        "(export_list_data), and Sailthru exports hold hashed addresses (`Email Hash`), "
        "never email addresses: this import would import nothing;"
    )
    # What an action made of the export (a downloaded copy) is the export all the same.
    downloaded = EXPORT_FED.replace(
        'url: "${{ jobs.export-main.outputs.export_url }}"',
        'file: "${{ jobs.export-main.outputs.path }}"',
    )
    [problem] = problems_of(write(downloaded))
    assert problem.startswith("12:16: jobs.copy.file: jobs.export-main.outputs.path is the file")


def test_an_import_may_read_an_exports_other_outputs_or_its_own_addresses(write, test_actions):
    text = EXPORT_FED.replace(
        'url: "${{ jobs.export-main.outputs.export_url }}"',
        'url: "https://crm.example.com/signups.csv?after=${{ jobs.export-main.outputs.job_id }}"',
    )
    assert problems_of(write(text)) == []


def test_a_misspelt_export_output_is_reported_once(write, test_actions):
    text = EXPORT_FED.replace("outputs.export_url", "outputs.export_ur")
    [problem] = problems_of(write(text))
    assert "has no output 'export_ur'; did you mean 'export_url'?" in problem
