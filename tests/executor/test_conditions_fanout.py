"""``for_each`` and ``if:`` on the sandbox: one job definition makes N jobs, each sent with
its own value and known by its own id everywhere; a false condition skips with its reason
and fails nothing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from executor_helpers import SAILJOBS, manifest_text, sailjobs_on

from runner.executor.lifecycle import exit_code_for
from runner.executor.progress import summary_lines
from runner.executor.state import SQLiteState
from runner.exitcodes import ExitCode
from runner.results import JobStatus

LISTS = ["Main Newsletter", "VIP", "Engaged"]


def test_for_each_sends_one_job_per_value_each_with_its_own_id(sandbox, run_jobs, tmp_path):
    result = run_jobs("""
        export-lists:
          job: export_list_data
          for_each: [Main Newsletter, VIP, Engaged]
          list: ${{ each.value }}
          on_success:
            - download: {path: "exports/${{ each.index }}-${{ each.value | slug }}.csv"}
        audit:
          job: export_scheduled_sends
          needs: export-lists
        vip-copy:
          job: import
          list: "Copy of ${{ jobs['export-lists[VIP]'].outputs.filename }}"
          emails: audit@example.com
    """)
    assert exit_code_for(result) == ExitCode.OK
    instances = [f"export-lists[{name}]" for name in LISTS]
    assert list(result.jobs) == [*instances, "audit", "vip-copy"]
    # N jobs submitted, each with its own value
    assert sorted(sent["list"] for sent in sandbox.submissions("export_list_data")) == sorted(LISTS)
    assert all(result.jobs[job].status is JobStatus.SUCCEEDED for job in result.jobs)
    # `needs: export-lists` waited for every instance
    audit_sent = result.jobs["audit"].submitted_at
    assert all(result.jobs[job].finished_at <= audit_sent for job in instances)  # type: ignore[operator]
    # one instance's output read by its id
    (copied,) = sandbox.submissions("import")
    assert copied["list"] == f"Copy of {result.jobs['export-lists[VIP]'].outputs['filename']}"
    # each instance downloaded to its own file; the state knows each by its id
    exports = sorted(path.name for path in (tmp_path / "exports").iterdir())
    assert exports == ["0-main-newsletter.csv", "1-vip.csv", "2-engaged.csv"]
    records = SQLiteState(tmp_path / "st").jobs(result.run_id)
    assert {job: records[job].params["list"] for job in instances} == dict(
        zip(instances, LISTS, strict=True)
    )


def test_a_false_if_skips_the_job_with_its_reason_and_the_run_succeeds(sandbox, run_jobs):
    result = run_jobs(
        """
        export-lists:
          job: export_list_data
          for_each: [Main Newsletter, VIP]
          if: each.value == 'VIP' or vars.env == 'prod'
          list: ${{ each.value }}
        after-main:
          job: export_scheduled_sends
          needs: "export-lists[Main Newsletter]"
        when-big:
          job: export_scheduled_sends
          if: ${{ jobs['export-lists[VIP]'].outputs.export_url != '' and not false }}
        never:
          job: export_scheduled_sends
          if: ${{ jobs['export-lists[VIP]'].outputs.filename == 'no-such-file.csv' }}
        """,
        header="vars:\n  env: staging\n",
    )
    jobs = result.jobs
    assert exit_code_for(result) == ExitCode.OK and result.succeeded
    main = jobs["export-lists[Main Newsletter]"]
    assert main.status is JobStatus.SKIPPED
    assert main.error == (
        "if: each.value == 'VIP' or vars.env == 'prod' was false (each.value = 'Main Newsletter')"
    )
    # GitHub Actions' rule: what needs a job skipped by its condition is skipped too
    assert jobs["after-main"].status is JobStatus.SKIPPED
    assert jobs["after-main"].error == (
        "if: of 'export-lists[Main Newsletter]' was false, and this job needs it"
    )
    # decided at run time, on the outputs of the job it reads
    assert jobs["when-big"].status is JobStatus.SUCCEEDED
    assert jobs["never"].status is JobStatus.SKIPPED
    assert jobs["never"].error is not None and "was false" in jobs["never"].error
    assert sorted(str(sent.get("list")) for sent in sandbox.submissions()) == ["None", "VIP"]
    # no failure in the summary, but each skip with its reason
    assert summary_lines(result) == [
        f"run {result.run_id} succeeded: 2 succeeded, 3 skipped",
        f"  export-lists[Main Newsletter]: skipped: {main.error}",
        f"  after-main: skipped: {jobs['after-main'].error}",
        f"  never: skipped: {jobs['never'].error}",
    ]


def test_a_false_if_on_an_action_skips_only_that_action(sandbox, run_jobs, tmp_path):
    result = run_jobs(
        """
        export-main:
          job: export_list_data
          list: VIP
          on_success:
            - download: {path: exports/always.csv}
            - download:
                path: exports/prod-only.csv
                if: vars.env == 'prod'
            - download:
                path: exports/big-only.csv
                if: ${{ jobs.export-main.outputs.path != '' }}
        """,
        header="vars:\n  env: staging\n",
    )
    assert exit_code_for(result) == ExitCode.OK
    actions = result.jobs["export-main"].actions
    assert [action.skipped for action in actions] == [
        None,
        "if: vars.env == 'prod' was false",
        None,
    ]
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "always.csv",
        "big-only.csv",
    ]


def test_instance_ids_work_in_reports_show_and_resubmit(sandbox, tmp_path):
    """A real `sailjobs run`: one instance fails (a list the account lacks); the reports and
    `sailjobs show` name each instance, and `--resubmit` takes an id as the shell gives it."""
    (tmp_path / "m.yaml").write_text(
        manifest_text("""
            export-lists:
              job: export_list_data
              for_each: [VIP, No Such List]
              list: ${{ each.value }}
        """)
    )
    reports = ["--report", "r.json", "--junit", "j.xml"]
    summary = {"GITHUB_STEP_SUMMARY": str(tmp_path / "r.md")}  # markdown and timeline
    first = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st", *reports, **summary)
    assert first.returncode == ExitCode.JOB_FAILED, first.stdout + first.stderr
    report: dict[str, Any] = json.loads((tmp_path / "r.json").read_text())
    ids = ["export-lists[VIP]", "export-lists[No Such List]"]
    assert [job["id"] for job in report["jobs"]] == ids
    assert [job["status"] for job in report["jobs"]] == ["succeeded", "failed"]
    assert all(job_id in (tmp_path / "j.xml").read_text() for job_id in ids)
    assert all(job_id in (tmp_path / "r.md").read_text() for job_id in ids)
    shown = sailjobs_on(sandbox, tmp_path, "show", report["run_id"], "--state", "st")
    assert "  export-lists[No Such List]: failed: " in shown.stdout, shown.stdout + shown.stderr
    again = sailjobs_on(
        sandbox, tmp_path, "run", "m.yaml", "--state", "st", "--retry-failed",
        *shlex.split("--resubmit 'export-lists[VIP]'"),
    )  # fmt: skip
    assert "no such job" not in again.stdout + again.stderr
    assert again.returncode == ExitCode.JOB_FAILED  # the list is still missing
    assert [sent["list"] for sent in sandbox.submissions()] == ["VIP"]  # reused, not resent
    family = sailjobs_on(
        sandbox, tmp_path, "run", "m.yaml", "--state", "st", "--retry-failed",
        "--resubmit", "export-lists",
    )  # fmt: skip
    assert family.returncode == ExitCode.INVALID
    assert "--resubmit export-lists: no such job" in family.stdout + family.stderr


REPO = Path(__file__).resolve().parents[2]


def test_the_newsletter_exports_manifest_runs_on_the_sandbox(tmp_path):
    """manifests/newsletter-exports.yaml as README shows it: one export per list, and the
    scheduled sends skipped by their if:, told with the reason, exit 0."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAILTHRU_", "GITHUB_"))}
    done = subprocess.run(
        [SAILJOBS, "run", "manifests/newsletter-exports.yaml", "--sandbox"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "succeeded: 3 succeeded, 1 skipped" in done.stdout
    assert "  scheduled-sends: skipped: if: vars.with_sends == true was false" in done.stdout
    exports = sorted(path.name.rsplit("-", 1)[0] for path in (tmp_path / "exports").iterdir())
    assert exports == ["engaged", "main-newsletter", "vip"]


def test_split_instances_keep_their_parts_apart(sandbox, run_jobs, tmp_path):
    """Two for_each instances of a split export: each its own parts (`<id>~<n>` rows) and
    its own joined file, downloaded into one folder under the export's name."""
    end = date.today()
    first = f"{end - timedelta(days=39):%Y%m%d}"
    result = run_jobs(f"""
        purchases:
          job: export_purchase_log
          for_each: [a, b]
          start_date: "{first}"
          end_date: "{end:%Y%m%d}"
          split: true
          on_success:
            - download: {{path: out/}}
    """)
    assert exit_code_for(result) == ExitCode.OK, [job.error for job in result.jobs.values()]
    assert len(sandbox.submissions("export_purchase_log")) == 4
    rows = SQLiteState(tmp_path / "st").jobs(result.run_id)
    for instance in ("purchases[a]", "purchases[b]"):
        assert {rows[f"{instance}~{n}"].status for n in (1, 2)} == {JobStatus.SUCCEEDED}
    saved = sorted(path.name for path in (tmp_path / "out").iterdir())
    # the joined file is named after the instance, made a safe file name ([ ] become _)
    assert saved == [f"purchases_{x}_-{first}-{end:%Y%m%d}.csv" for x in "ab"]


def test_retry_failed_keeps_a_job_its_condition_skipped(
    sandbox, client_for, write_manifest, tmp_path
):
    """--retry-failed does again what failed; a skip its if: asked for is not a failure, so
    it stays as it was, even where the condition would now be true."""
    from runner.executor.lifecycle import run

    path = write_manifest(
        manifest_text("""
            bad:
              job: export_list_data
              list: No Such List
            maybe:
              job: export_scheduled_sends
              if: env.GO | default('no') == 'yes'
        """)
    )
    client, state = client_for(sandbox), tmp_path / "st"
    first = run(path, client=client, state=state, env={})
    assert first.jobs["maybe"].skipped_by_condition and not first.succeeded
    again = run(path, client=client, state=state, env={"GO": "yes"}, retry_failed=True)
    assert again.run_id == first.run_id
    assert again.jobs["maybe"].status is JobStatus.SKIPPED
    assert sandbox.submissions() == []  # the list is still missing; nothing else was sent


def test_the_advice_for_an_ambiguous_instance_quotes_its_id_and_works_pasted(sandbox, tmp_path):
    (tmp_path / "m.yaml").write_text(
        manifest_text(
            """
            imports:
              job: import
              for_each: [G X, G A]
              list: ${{ each.value }}
              emails: x@example.com
            """,
            header="concurrency: 1\n",
        )
    )
    sandbox.faults.drop_next(1, method="POST", path="/job")  # imports[G X]: no answer
    first = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st")
    output = first.stdout + first.stderr
    assert first.returncode == ExitCode.JOB_FAILED, output
    commands = set(re.findall(r"`(sailjobs run [^`]+--resubmit[^`]+)`", output))
    assert commands == {"sailjobs run m.yaml --state st --retry-failed --resubmit 'imports[G X]'"}
    second = sailjobs_on(sandbox, tmp_path, *shlex.split(commands.pop())[1:])
    assert second.returncode == ExitCode.OK, second.stdout + second.stderr
    assert sorted(sent["list"] for sent in sandbox.submissions()) == ["G A", "G X"]
