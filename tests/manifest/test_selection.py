"""``--select``/``--exclude``: selectors, dbt's graph operators, tags, and borrowed jobs in the
plan (the run's side: tests/executor/test_select_run.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from runner.manifest.loader import load_manifest
from runner.manifest.planner import BorrowedRun, build_plan
from runner.manifest.render import render_json, render_mermaid, render_text
from runner.manifest.selection import Selection, parse_selector, split_selectors
from runner.problems import ManifestError

from .conftest import problems_of

# export-main -> tagged -> seeds <- purchases; unrelated stands alone.
NIGHTLY = """
    version: 1
    name: nightly
    jobs:
      export-main:
        job: export_list_data
        list: Main Newsletter
        tags: [nightly]
      purchases:
        job: export_purchase_log
        start_date: "20261101"
        end_date: "20261107"
        tags: [nightly, weekly]
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
        report_email: crm@example.com
"""


@pytest.fixture
def loaded(write):
    return load_manifest(write(NIGHTLY))


def selected(loaded, *select: str, exclude: tuple[str, ...] = ()):
    plan = build_plan(loaded, selection=Selection.of(select, exclude))
    return list(plan.jobs), plan.borrowed


def problems(loaded, *select: str, exclude: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        build_plan(loaded, selection=Selection.of(select, exclude))
    return [p.render().removeprefix(f"{loaded.path}:") for p in caught.value.problems]


def test_no_selection_is_every_job(loaded):
    assert selected(loaded) == (
        ["export-main", "purchases", "unrelated", "tagged", "seeds"],
        {},
    )


def test_a_job_alone_runs_alone_and_borrows_what_it_needs(loaded):
    # What `--only tagged` did before: it ran export-main as well, silently.
    assert selected(loaded, "tagged") == (["tagged"], {"export-main": ["tagged"]})


@pytest.mark.parametrize(
    ("select", "jobs", "borrowed"),
    [
        ("+tagged", ["export-main", "tagged"], {}),
        ("+seeds", ["export-main", "purchases", "tagged", "seeds"], {}),
        ("export-main+", ["export-main", "tagged", "seeds"], {"purchases": ["seeds"]}),
        ("+tagged+", ["export-main", "tagged", "seeds"], {"purchases": ["seeds"]}),
        ("tag:nightly", ["export-main", "purchases"], {}),
        ("tag:weekly+", ["purchases", "seeds"], {"tagged": ["seeds"]}),
        ("+tag:weekly", ["purchases"], {}),
        ("seeds", ["seeds"], {"purchases": ["seeds"], "tagged": ["seeds"]}),
    ],
)
def test_graph_operators(loaded, select, jobs, borrowed):
    plan_jobs, plan_borrowed = selected(loaded, select)
    assert (sorted(plan_jobs), plan_borrowed) == (sorted(jobs), borrowed)


def test_selectors_add_up_repeated_or_space_separated(loaded):
    assert selected(loaded, "unrelated tag:weekly") == selected(loaded, "unrelated", "tag:weekly")
    assert selected(loaded, "unrelated", "tag:weekly")[0] == ["purchases", "unrelated"]
    assert split_selectors(["  a  +b ", "tag:x+"]) == ["a", "+b", "tag:x+"]


def test_exclude_takes_away_from_the_selection_or_from_every_job(loaded):
    assert selected(loaded, exclude=("tag:nightly",)) == (
        ["tagged", "unrelated", "seeds"],
        {"export-main": ["tagged"], "purchases": ["seeds"]},
    )
    assert selected(loaded, "+seeds", exclude=("export-main",)) == (
        ["purchases", "tagged", "seeds"],
        {"export-main": ["tagged"]},
    )


def test_the_levels_order_only_the_selected_jobs(loaded):
    plan = build_plan(loaded, selection=Selection.of(["export-main+"]))
    assert plan.levels == [["export-main"], ["tagged"], ["seeds"]]
    # seeds waits for tagged in this run, not for purchases: that one ran before.
    assert plan.needs("seeds") == {"tagged"}
    assert plan.jobs["seeds"].needs == {"tagged", "purchases"}


def test_an_unknown_job_has_a_did_you_mean(loaded):
    assert problems(loaded, "taged") == [
        "3:1: jobs: --select taged: no such job; did you mean 'tagged'? "
        "jobs: export-main, purchases, tagged, seeds, unrelated"
    ]
    assert problems(loaded, "tagged", exclude=("+sedes",)) == [
        "3:1: jobs: --exclude +sedes: no such job; did you mean 'seeds'? "
        "jobs: export-main, purchases, tagged, seeds, unrelated"
    ]


def test_an_unknown_tag_lists_the_tags_there_are(loaded):
    assert problems(loaded, "tag:nigthly", "+tag:daily") == [
        "3:1: jobs: --select tag:nigthly: no job has the tag 'nigthly'; did you mean "
        "'nightly'? tags: nightly, weekly",
        "3:1: jobs: --select +tag:daily: no job has the tag 'daily'; tags: nightly, weekly",
    ]


def test_a_selection_that_leaves_no_job(loaded):
    assert problems(loaded, "tag:weekly", exclude=("purchases",)) == [
        "3:1: jobs: --select tag:weekly --exclude purchases selects no job; select at least "
        "one of export-main, purchases, tagged, seeds, unrelated"
    ]


@pytest.mark.parametrize("text", ["+", "++", "tag:", "+tag:+", "a+b"])
def test_what_is_not_a_selector(text):
    assert isinstance(parse_selector(text), str)


def test_other_selector_methods_are_named(loaded):
    assert problems(loaded, "path:models/x") == [
        "3:1: jobs: --select path:models/x: unknown selector method 'path:'; sailjobs "
        "selects by job id or tag:NAME"
    ]


def test_parse_selector():
    assert parse_selector("+tag:nightly+") == parse_selector("+tag:nightly+")
    found = parse_selector("+tag:nightly")
    assert not isinstance(found, str)
    assert (found.name, found.is_tag, found.upstream, found.downstream) == (
        "nightly",
        True,
        True,
        False,
    )


def test_tags_are_validated_where_they_are(write):
    path = write(
        """
        version: 1
        name: tags
        jobs:
          a: {job: export_list_data, list: L, tags: [nightly, "two words"]}
          b: {job: export_list_data, list: L, tags: nightly}
        """
    )
    assert problems_of(path) == [
        "4:55: jobs.a.tags[1]: invalid tag 'two words'; use letters, digits, '-', '_' or '.' "
        "(e.g. nightly)",
        "5:45: jobs.b.tags: expected a list, got 'nightly'",
    ]


# --- the plan shows borrowed jobs --------------------------------------------------------

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def borrowing(loaded):
    plan = build_plan(loaded, selection=Selection.of(["tagged"]))
    plan.borrowed_from["export-main"] = BorrowedRun(
        run_id="20261202T020000Z-abc123",
        finished_at=datetime(2026, 12, 2, 2, 10, tzinfo=UTC),
        outputs={"job_id": "J-77", "export_url": "https://x.example.com/e.csv"},
    )
    return plan


def test_the_text_plan_says_where_borrowed_outputs_come_from(borrowing):
    text = render_text(borrowing, {}, NOW)
    assert text.splitlines()[:9] == [
        f"Plan: nightly ({borrowing.loaded.path})",
        "1 job in 1 step, up to 4 at once",
        "Selected: --select tagged",
        "",
        "From earlier runs:",
        "  export-main: not selected; outputs from run 20261202T020000Z-abc123 of 2026-12-02 "
        "(for tagged)",
        "",
        "Step 1: tagged",
        "  tagged  [import]",
    ]
    # The borrowed output is resolved in the plan, as the run will send it.
    assert "    list: Exported J-77" in text.splitlines()


def test_the_json_plan_lists_borrowed_jobs(borrowing):
    data = json.loads(render_json(borrowing, {}, NOW))
    assert data["select"] == ["tagged"] and data["exclude"] == []
    assert data["borrowed"] == [
        {
            "id": "export-main",
            "needed_by": ["tagged"],
            "run_id": "20261202T020000Z-abc123",
            "finished_at": "2026-12-02T02:10:00+00:00",
            "description": "export-main: not selected; outputs from run "
            "20261202T020000Z-abc123 of 2026-12-02",
        }
    ]
    assert [job["id"] for job in data["jobs"]] == ["tagged"]
    assert data["jobs"][0]["needs"] == ["export-main"]


def test_the_mermaid_graph_draws_borrowed_jobs_dashed(loaded):
    plan = build_plan(loaded, selection=Selection.of(["tagged"]))
    assert render_mermaid(plan).splitlines() == [
        "flowchart LR",
        '  j0["export-main<br/>not selected: earlier run"]',
        "  style j0 stroke-dasharray: 5 5",
        '  j1["tagged<br/>import"]',
        "  j0 -. job_id .-> j1",
    ]


def test_a_borrowed_job_without_a_run_is_a_problem_at_each_job_that_needs_it(loaded):
    plan = build_plan(loaded, selection=Selection.of(["seeds"]))
    plan.borrowed_from["tagged"] = BorrowedRun("R1", None, {})
    assert [
        p.render().removeprefix(f"{loaded.path}:") for p in plan.unborrowed("the state folder st")
    ] == [
        "17:3: jobs.seeds: seeds needs 'purchases', which is not selected and has no "
        "successful run in the state folder st; select it too (--select +seeds) or run it first"
    ]
    plan = build_plan(loaded, selection=Selection.of(["tagged"]))
    assert [p.message for p in plan.unborrowed("the state folder st")] == [
        "tagged reads the job_id of 'export-main', which is not selected and has no "
        "successful run in the state folder st; select it too (--select +tagged) or run it first"
    ]


def test_only_is_another_name_for_select(write, tmp_path):
    from click.testing import CliRunner

    from runner.cli import cli

    path = str(write(NIGHTLY))

    def plan(*options: str):
        args = ["plan", path, "--format", "json", "--state", str(tmp_path / "st"), *options]
        return CliRunner().invoke(cli, args, catch_exceptions=False)

    selected, only = plan("--select", "+tagged unrelated"), plan("--only", "+tagged unrelated")
    assert selected.exit_code == 0, selected.output
    assert only.stdout == selected.stdout
    assert [job["id"] for job in json.loads(only.stdout)["jobs"]] == [
        "export-main",
        "unrelated",
        "tagged",
    ]
    # Without the +, --only runs the job alone (it used to add its upstream silently).
    alone = plan("--only", "tagged")
    assert alone.exit_code == 2
    assert "tagged reads the job_id of 'export-main', which is not selected" in alone.output


FAN_OUT = """
version: 1
name: lists
jobs:
  export-lists:
    job: export_list_data
    for_each: [Main Newsletter, VIP]
    list: ${{ each.value }}
  sends:
    job: export_scheduled_sends
    needs: export-lists
"""


def test_a_for_each_job_selects_every_instance_or_one_by_its_id(write):
    loaded = load_manifest(write(FAN_OUT))
    every = ["export-lists[Main Newsletter]", "export-lists[VIP]"]
    assert selected(loaded, "export-lists")[0] == every
    assert selected(loaded, "export-lists+")[0] == [*every, "sends"]
    assert selected(loaded, "sends", exclude=("export-lists",)) == (
        ["sends"],
        {job: ["sends"] for job in every},
    )
    exact = build_plan(loaded, selection=Selection.exactly(["export-lists[VIP]"]))
    assert list(exact.jobs) == ["export-lists[VIP]"]


def test_an_instance_id_with_spaces_is_one_selector(write):
    loaded = load_manifest(write(FAN_OUT))
    assert selected(loaded, "export-lists[Main Newsletter]+ sends")[0] == [
        "export-lists[Main Newsletter]",
        "sends",
    ]


def test_an_unclosed_bracket_is_kept_and_names_no_job(write):
    loaded = load_manifest(write(FAN_OUT))
    (problem,) = problems(loaded, "sends", exclude=("export-lists[",))
    assert "--exclude export-lists[: no such job" in problem
