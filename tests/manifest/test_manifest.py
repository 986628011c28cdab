"""load_manifest: models with defaults applied, actions, and every problem in one pass."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runner.manifest.loaded import LoadedManifest
from runner.manifest.loader import load_manifest
from runner.manifest.models import ActionSpec, RetryPolicy
from runner.manifest.selection import Selection
from runner.problems import ManifestError

from .conftest import problems_of

NIGHTLY = """
    version: 1
    name: nightly
    vars:
      main_list: Main Newsletter
    defaults:
      report_email: crm-alerts@example.com
      timeout: 2h
      retry: {attempts: 4, initial: 1s, max: 1m}
      poll: {initial: 3s, max: 2m}
    concurrency: 3
    fail_fast: true
    jobs:
      export-main:
        job: export_list_data
        list: ${{ vars.main_list }}
        hash_algo: sha256
        on_success:
          - fetch: {path: "out/${{ run.date | yyyymmdd }}.csv", continue_on_error: true}
          - note: {text: "got ${{ jobs.export-main.outputs.rows }} rows"}
      import-engaged:
        job: import
        list: Engaged
        url: https://crm.example.com/engaged-${{ run.date | yyyymmdd }}.csv
        report_email: other@example.com
        timeout: 30m
        retry: {attempts: 2}
        poll: {max: 1m}
        needs: export-main
        preflight: warn
    notify:
      always:
        - note: {text: "done: ${{ jobs.import-engaged.outputs.status }}"}
"""


def test_a_valid_manifest_with_defaults_applied(write, test_actions):
    loaded = load_manifest(write(NIGHTLY))
    assert isinstance(loaded, LoadedManifest)
    manifest = loaded.manifest
    assert (manifest.name, manifest.concurrency, manifest.fail_fast) == ("nightly", 3, True)
    export = manifest.jobs["export-main"]
    assert export.job == "export_list_data"
    assert export.params == {
        "list": "${{ vars.main_list }}",
        "hash_algo": "sha256",
        "report_email": "crm-alerts@example.com",
    }
    assert export.timeout == timedelta(hours=2)
    assert export.retry == RetryPolicy(
        attempts=4, initial=timedelta(seconds=1), max=timedelta(minutes=1)
    )
    assert export.poll.initial == timedelta(seconds=3)
    assert (export.preflight, export.split, export.needs) == ("on", False, [])


def test_job_settings_override_defaults_key_by_key(write, test_actions):
    engaged = load_manifest(write(NIGHTLY)).manifest.jobs["import-engaged"]
    assert engaged.params["report_email"] == "other@example.com"
    assert engaged.timeout == timedelta(minutes=30)
    assert engaged.retry.attempts == 2
    assert engaged.retry.initial == timedelta(seconds=1)  # from defaults
    assert engaged.poll.initial == timedelta(seconds=3)
    assert engaged.poll.max == timedelta(minutes=1)
    assert engaged.needs == ["export-main"]
    assert engaged.preflight == "warn"


def test_actions_keep_raw_settings_and_their_place(write, test_actions):
    loaded = load_manifest(write(NIGHTLY))
    export = loaded.manifest.jobs["export-main"]
    fetch, note = export.on_success
    assert fetch == ActionSpec(
        name="fetch",
        settings={"path": "out/${{ run.date | yyyymmdd }}.csv"},
        continue_on_error=True,
        path=("jobs", "export-main", "on_success", 0, "fetch"),
    )
    assert note.continue_on_error is False
    assert loaded.position(fetch.path) == (18, 9)
    notify = loaded.manifest.notify.always[0]
    assert notify.name == "note"
    assert loaded.problem(notify.path, "x").render().endswith(":32:7: notify.always[0].note: x")


def test_outputs_include_the_actions_outputs(write, test_actions):
    loaded = load_manifest(write(NIGHTLY))
    outputs = loaded.job_outputs("export-main")
    assert {"export_url", "filename", "job_id", "path", "rows", "sha256", "sent"} <= outputs
    assert "export_url" not in loaded.job_outputs("import-engaged")


def test_every_problem_in_one_pass(write, test_actions):
    path = write(
        """
        version: 1
        name: broken
        jobs:
          a:
            job: export_list_data
            hash_algo: sha1
          b:
            job: import
            list: L
            url: ${{ jobs.c.outputs.export_url }}
          c:
            job: export_list_data
            list: L
            needs: [b, ghost]
            on_success:
              - fetch: {path: 1, colour: red}
              - note: {text: "${{ jobs.a.outputs.nope }}"}
        """
    )
    assert problems_of(path) == [
        "4:3: jobs.a.list: add `list`, the name of the list to export "
        '(the API would answer error 2 "Missing required parameter: list")',
        "6:16: warning: jobs.a.hash_algo: 'sha1' is not a documented hash_algo (md5, the "
        "default, or sha256); what the API does with it is undocumented",
        "7:3: jobs.b: dependency cycle: b (line 7) -> c (line 11) -> b (line 7); remove one of "
        "these needs or output references",
        "10:14: jobs.b.url: jobs.c.outputs.export_url is the file of an export "
        "(export_list_data), and Sailthru exports hold hashed addresses (`Email Hash`), "
        "never email addresses: this import would import nothing; import a file of "
        "addresses from your own system (an `email` column, or one per line), and hand "
        "the export to download, s3 or email actions",
        "14:16: jobs.c.needs[1]: needs unknown job 'ghost'; jobs: a, b, c",
        '16:23: jobs.c.on_success[0].fetch.path: expected text, got 1 (quote it: "1")',
        "16:26: jobs.c.on_success[0].fetch.colour: unknown key 'colour'; allowed: "
        "continue_on_error, if, mode, path",
        "17:27: jobs.c.on_success[1].note.text: job 'a' (export_list_data) has no output "
        "'nope'; outputs: end_time, export_url, filename, job_id, name, start_time, status",
    ]


def test_action_settings_holding_expressions_skip_type_checks_but_not_unknown_keys(
    write, test_actions
):
    path = write(
        """
        version: 1
        name: actions
        vars: {times: 3}
        jobs:
          a:
            job: export_list_data
            list: L
            always:
              - note: {text: hi, times: "${{ vars.times }}"}
              - note: {text: "${{ vars.times }}", tims: "${{ vars.times }}"}
        """
    )
    assert problems_of(path) == [
        "10:43: jobs.a.always[1].note.tims: unknown key 'tims'; did you mean 'times'? "
        "allowed: continue_on_error, if, text, times"
    ]


def test_an_action_that_needs_an_export_on_a_job_without_one(write, test_actions):
    path = write(
        """
        version: 1
        name: fetch-import
        jobs:
          a:
            job: import
            list: L
            emails: a@example.com
            on_success:
              - fetch: {path: x.csv}
        """
    )
    [problem] = problems_of(path)
    assert problem.startswith("9:9: jobs.a.on_success[0].fetch: 'fetch' needs a job that produces")
    assert problem.endswith("; import produces none")


def test_explicit_job_and_action_types_can_be_passed(write):
    from runner.builtin.jobtypes import ExportListData

    from .conftest import Note

    path = write(
        """
        version: 1
        name: explicit
        jobs:
          a:
            job: export_list_data
            list: L
            always: [{note: {text: hi}}]
        """
    )
    loaded = load_manifest(
        path,
        job_types={"export_list_data": ExportListData()},
        action_types={"note": Note()},
    )
    assert loaded.manifest.jobs["a"].always[0].name == "note"
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, job_types={}, action_types={"note": Note()})
    assert "unknown job type 'export_list_data'" in str(caught.value)


def test_the_error_lists_problems_sorted_by_position(write):
    path = write(
        """
        version: 1
        name: sorted
        jobs:
          b:
            job: export_purchase_log
          c:
            job: import
          a:
            job: nope
        """
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    lines = [(p.line, p.col) for p in caught.value.problems]
    assert lines == sorted(lines)
    assert len(lines) == 4


def test_vars_may_only_read_env_and_run(write):
    path = write(
        """
        version: 1
        name: vars
        vars:
          bucket: "crm-${{ env.STAGE }}"
          day: "${{ run.date | yyyymmdd }}"
          bad: "${{ jobs.a.outputs.job_id }}"
        jobs:
          a: {job: export_list_data, list: "${{ vars.bucket }}"}
        """
    )
    assert problems_of(path) == [
        "6:13: vars.bad: vars may read env.* and run.* only, not jobs.a.outputs.job_id"
    ]


def test_validation_never_needs_env(write, monkeypatch):
    monkeypatch.delenv("SOME_SECRET_NOT_SET", raising=False)
    path = write(
        """
        version: 1
        name: env
        jobs:
          a: {job: import, list: L, url: "${{ env.SOME_SECRET_NOT_SET }}"}
        """
    )
    assert load_manifest(path).manifest.jobs["a"].params["url"] == "${{ env.SOME_SECRET_NOT_SET }}"


def test_a_bad_default_is_reported_once_not_once_per_job(write):
    jobs = "\n".join(f"  j{index}: {{job: export_list_data, list: L}}" for index in range(5))
    path = write(
        "version: 1\nname: defaults\ndefaults:\n"
        "  report_email: ${{ vars.nope }}\n"
        "  postback_url: ${{ jobs.j0.outputs.job_id }}\n"
        f"jobs:\n{jobs}\n"
    )
    assert problems_of(path) == [
        "4:21: defaults.report_email: vars.nope is not defined; add it under `vars` "
        "(defined: none)",
        "5:21: defaults.postback_url: defaults may read vars.*, env.* and run.*, not "
        "jobs.j0.outputs.job_id (every job would wait for that job, itself included)",
    ]


def test_inherited_defaults_count_for_required_env(write):
    from runner.manifest.planner import build_plan

    path = write(
        """
        version: 1
        name: env-defaults
        defaults: {postback_url: "${{ env.POSTBACK }}"}
        jobs:
          a: {job: export_list_data, list: L}
          b: {job: export_list_data, list: L, postback_url: https://hooks.example.com/b}
        """
    )
    plan = build_plan(load_manifest(path), selection=Selection.of(["b"]))
    assert plan.required_env == set()
    assert build_plan(load_manifest(path)).required_env == {"POSTBACK"}


def test_expression_errors_point_at_the_character(write):
    path = write(
        """
        version: 1
        name: columns
        jobs:
          a: {job: export_list_data, list: "x ${{ vars.a | nope }}"}
          b:
            job: export_list_data
            list: >-
              folded ${{ vars.a | nope }}
        """
    )
    found = problems_of(path)
    assert found[0].startswith("4:52: jobs.a.list: unknown filter 'nope'")
    assert found[1].startswith("7:11: jobs.b.list: unknown filter 'nope'")  # the value


def test_empty_sections_are_like_absent_ones_and_versions_are_exact(write):
    path = write(
        "version: 1\nname: x\nvars:\ndefaults:\nnotify:\njobs: {a: {job: export_scheduled_sends}}\n"
    )
    assert load_manifest(path).manifest.vars == {}
    for version in ("true", '"1"', "1.0", "2"):
        bad = write(f"version: {version}\nname: x\njobs: {{a: {{job: export_scheduled_sends}}}}\n")
        assert problems_of(bad)[0].startswith("1:10: version: unsupported version")


def test_api_parameters_are_strict(write):
    path = write(
        """
        version: 1
        name: strict
        jobs:
          a: {job: import, list: L, emails: a@example.com, signup_dates: yes}
          b: {job: export_list_data, list: 12}
        """
    )
    assert [problem.split(":")[2] for problem in problems_of(path)] == [
        " jobs.a.signup_dates",
        " jobs.b.list",
    ]


def test_split_is_for_export_purchase_log_only(write):
    path = write(
        """
        version: 1
        name: split
        jobs:
          a: {job: export_list_data, list: L, split: true}
          b: {job: export_purchase_log, start_date: 20160101, end_date: 20161231, split: true}
        """
    )
    assert problems_of(path) == [
        "4:46: jobs.a.split: `split` applies to job types that can run in parts "
        "(export_purchase_log), not export_list_data"
    ]


def test_only_the_inherited_defaults_bring_their_env(write):
    from runner.manifest.planner import build_plan

    path = write(
        """
        version: 1
        name: env-defaults
        defaults: {report_email: "${{ env.REPORT_TO }}", postback_url: "${{ env.POSTBACK }}"}
        jobs:
          a: {job: export_list_data, list: L, postback_url: https://hooks.example.com/a}
        """
    )
    assert build_plan(load_manifest(path)).required_env == {"REPORT_TO"}


def test_a_long_bad_expression_is_quoted_shortened_on_one_line(write):
    digits = "9" * 5000
    path = write(f"""
        version: 1
        name: long
        jobs:
          export-main:
            job: export_list_data
            list: "${{{{ run.date | days_ago({digits}) }}}}"
    """)
    [problem] = problems_of(path)
    assert problem == (
        "6:36: jobs.export-main.list: a number of 5,000 digits; write at most 30 (in "
        + repr("${{ run.date | days_ago(" + "9" * 73 + "...")
        + ")"
    )


def test_a_mapping_or_list_where_a_boolean_belongs_is_a_problem(write):
    path = write("""
        version: 1
        name: types
        fail_fast: {a: 1}
        jobs:
          q:
            job: export_purchase_log
            start_date: 20260101
            end_date: 20260102
            split: [1]
    """)
    assert problems_of(path) == [
        "3:1: fail_fast: expected true or false, got {'a': 1}",
        "9:5: jobs.q.split: expected true or false, got [1]",
    ]


def test_durations_out_of_range_are_problems_not_overflows(write):
    path = write("""
        version: 1
        name: durations
        defaults:
          timeout: 999999999999d
        jobs:
          a:
            job: export_scheduled_sends
            timeout: .inf
            poll: {initial: .nan}
    """)
    assert problems_of(path) == [
        "4:12: defaults.timeout: a duration must be at most 365d, got '999999999999d'",
        "8:14: jobs.a.timeout: a duration must be at most 365d, got inf",
        "9:21: jobs.a.poll.initial: expected a duration like 90s, 5m, 3h or 1h30m, got nan",
    ]


def test_for_each_instances_are_jobs_of_their_own(write):
    loaded = load_manifest(
        write("""
            version: 1
            name: t
            jobs:
              export-lists:
                job: export_list_data
                for_each: [Main Newsletter, 7]
                list: "List ${{ each.value }}"
                report_email: "list-${{ each.index }}@example.com"
              after:
                job: export_scheduled_sends
                needs: export-lists
        """)
    )
    jobs = loaded.manifest.jobs
    assert list(jobs) == ["export-lists[Main Newsletter]", "export-lists[7]", "after"]
    seven = jobs["export-lists[7]"]
    assert (seven.params, seven.family, seven.each) == (
        {"list": "List 7", "report_email": "list-1@example.com"},
        "export-lists",
        7,
    )
    assert jobs["after"].needs == ["export-lists[Main Newsletter]", "export-lists[7]"]
    # an instance's values are where its job is written
    assert loaded.position(("jobs", "export-lists[7]", "list")) == (7, 11)


def test_a_for_each_is_bounded(write):
    values = ", ".join(f"l{n}" for n in range(1001))
    problems = problems_of(
        write(f"""
            version: 1
            name: t
            jobs:
              export-lists:
                job: export_list_data
                for_each: [{values}]
                list: "${{{{ each.value }}}}"
        """)
    )
    assert problems == [
        "6:5: jobs.export-lists.for_each: for_each lists 1,001 values; one job makes at most "
        "1,000 (the API takes 40 jobs a minute: that is 25 minutes of submissions); split the "
        "list across jobs or manifests"
    ]
