"""The dry run checks what the run will do: not the jobs and actions an ``if:`` skips, not what
a resumed or retried run already did, and two actions writing one file are one problem; what a
job borrows comes from a run with the same inputs (or the saved plan's own). Real ``sailjobs``
processes against a sandbox on loopback; what a job borrows, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from executor_helpers import manifest_text, sailjobs_on

from runner.executor.state import StateLocation


def _write(tmp_path: Path, jobs: str, header: str = "") -> None:
    (tmp_path / "m.yaml").write_text(manifest_text(jobs, header=header), encoding="utf-8")


def test_what_a_false_if_skips_is_not_checked(sandbox: Any, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sends.csv").write_text("kept\n")
    _write(
        tmp_path,
        """
        sends:
          job: export_scheduled_sends
          if: vars.with_sends
          on_success:
            - download: {path: out/sends.csv}
        main:
          job: export_list_data
          list: Main Newsletter
          on_success:
            - download: {path: out/sends.csv, if: vars.with_sends}
            - s3: {bucket: acme-prod-exports, if: vars.env == 'prod'}
        """,
        header="vars: {with_sends: false, env: staging}\n",
    )
    planned = sailjobs_on(sandbox, tmp_path, "plan", "m.yaml")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    ran = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "out" / "sends.csv").read_text() == "kept\n"


def test_two_downloads_to_one_file_are_a_problem_at_the_second(sandbox: Any, tmp_path: Path):
    _write(
        tmp_path,
        """
        lists:
          job: export_list_data
          for_each: [VIP, Engaged]
          list: ${{ each.value }}
          on_success:
            - download: {path: "out/list-${{ run.date }}.csv"}
        """,
    )
    planned = sailjobs_on(sandbox, tmp_path, "plan", "m.yaml", "--offline")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    (line,) = [line for line in planned.stdout.splitlines() if "also written by" in line]
    assert "jobs.lists[Engaged].on_success[0].download.path" in line
    assert "jobs.lists[VIP].on_success[0].download" in line and "each.value" in line
    ran = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st")
    assert ran.returncode == 2 and sandbox.submissions() == []


def test_a_retry_checks_only_what_it_will_send_again(sandbox: Any, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    (tmp_path / "data").mkdir()
    signups = tmp_path / "data" / f"signups-{datetime.now(UTC):%Y%m%d}.csv"
    signups.write_text("email\na@example.com\n")
    _write(
        tmp_path,
        """
        imp:
          job: import
          list: Main Newsletter
          file: "data/signups-${{ run.date | yyyymmdd }}.csv"
        missing:
          job: export_list_data
          list: No Such List
        """,
    )
    first = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st")
    assert first.returncode == 1, first.stdout + first.stderr  # the list is not found
    signups.unlink()  # the import succeeded: its file is not needed again
    again = sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", "st", "--retry-failed")
    assert again.returncode == 1, again.stdout + again.stderr  # not 2: nothing refused
    assert len(sandbox.submissions("import")) == 1  # reused, not sent again
    assert "submitting again: missing" in again.stdout + again.stderr


BORROW = """
a:
  job: export_list_data
  list: VIP
b:
  job: export_scheduled_sends
  report_email: "${{ jobs.a.outputs.job_id }}@example.com"
"""


def test_a_backfill_never_borrows_todays_outputs(
    sandbox: Any, tmp_path: Path, state_location: str
) -> None:
    _write(tmp_path, BORROW)
    assert (
        sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", state_location).returncode == 0
    )
    today = sailjobs_on(
        sandbox, tmp_path, "plan", "m.yaml", "--state", state_location, "--select", "b"
    )
    assert today.returncode == 0, today.stdout + today.stderr
    backfill = sailjobs_on(
        sandbox, tmp_path, "plan", "m.yaml", "--state", state_location, "--select", "b",
        "--date", "2026-01-05",
    )  # fmt: skip
    assert backfill.returncode == 2
    where = StateLocation(state_location).describe()
    assert f"no successful run with --date 2026-01-05 in {where}" in backfill.stdout


def test_a_saved_plan_borrows_from_the_run_it_showed(
    sandbox: Any, tmp_path: Path, state_location: str
) -> None:
    _write(tmp_path, BORROW)
    assert (
        sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", state_location).returncode == 0
    )
    planned = sailjobs_on(
        sandbox,
        tmp_path,
        "plan",
        "m.yaml",
        "--state",
        state_location,
        "--select",
        "b",
        "--out",
        "p.json",
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    shown = json.loads((tmp_path / "p.json").read_text())["borrowed"]["a"]
    # A later run of the whole manifest: the plan still borrows the run it showed.
    assert (
        sailjobs_on(sandbox, tmp_path, "run", "m.yaml", "--state", state_location).returncode == 0
    )
    applied = sailjobs_on(
        sandbox, tmp_path, "run", "p.json", "--state", state_location, "--report", "r.json"
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["options"]["borrowed"]["a"]["run_id"] == shown
