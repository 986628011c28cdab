"""The plan is a dry run: what would fail at run time and is knowable before anything is sent
fails ``sailjobs plan`` at its line (exit 2), and ``sailjobs run`` refuses it before its first
POST. Real ``sailjobs`` processes against a sandbox on loopback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from executor_helpers import SAILJOBS, manifest_text, sailjobs_on


def posts(sandbox: Any) -> list[tuple[str, str, int]]:
    return [entry for entry in sandbox.request_log if entry[0] == "POST"]


def plan_and_run(sandbox: Any, workdir: Path, body: str, **env: str) -> tuple[Any, Any]:
    """``sailjobs plan m.yaml`` and ``sailjobs run m.yaml`` of the manifest ``body``."""
    (workdir / "m.yaml").write_text(body, encoding="utf-8")
    planned = sailjobs_on(sandbox, workdir, "plan", "m.yaml", **env)
    ran = sailjobs_on(sandbox, workdir, "run", "m.yaml", "--state", "st", **env)
    return planned, ran


def line_of(body: str, text: str) -> int:
    return next(number for number, line in enumerate(body.splitlines(), 1) if text in line)


RANGE = """
    purchases:
      job: export_purchase_log
      start_date: "${{ run.date | days_ago(40) | yyyymmdd }}"
      end_date: "${{ run.date | yyyymmdd }}"
"""
RANGE_41_DAYS = manifest_text(RANGE)


def test_a_41_day_range_from_run_date_fails_the_plan_and_the_run_sends_nothing(
    sandbox: Any, tmp_path: Path
) -> None:
    planned, ran = plan_and_run(sandbox, tmp_path, RANGE_41_DAYS)

    today = datetime.now(UTC).date()
    start = f"{today - timedelta(days=40):%Y%m%d}"
    assert planned.returncode == 2, planned.stdout + planned.stderr
    line = line_of(RANGE_41_DAYS, "end_date")
    expected = re.compile(
        rf"m\.yaml:{line}:\d+: jobs\.purchases\.end_date: the range is 41 days, over 31.*"
        rf"error 18.*\(resolved: start_date={start}, end_date={today:%Y%m%d}\)"
    )
    assert expected.search(planned.stdout), planned.stdout
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert expected.search(ran.stdout), ran.stdout
    assert "nothing was sent" in ran.stderr
    assert posts(sandbox) == []


def test_the_same_range_with_split_plans_and_runs(sandbox: Any, tmp_path: Path) -> None:
    body = manifest_text(RANGE + "      split: true\n")
    (tmp_path / "m.yaml").write_text(body, encoding="utf-8")
    planned = sailjobs_on(sandbox, tmp_path, "plan", "m.yaml")
    assert planned.returncode == 0, planned.stdout + planned.stderr


DOWNLOAD = manifest_text(
    """
    sends:
      job: export_scheduled_sends
      on_success:
        - download: {path: "${{ vars.folder }}/sends-${{ run.date }}.csv"}
""",
    header="vars:\n  folder: out\n",
)


def test_an_existing_download_target_under_overwrite_never_fails_the_plan_and_the_run(
    sandbox: Any, tmp_path: Path
) -> None:
    written = f"out/sends-{datetime.now(UTC).date()}.csv"
    target = tmp_path / written
    target.parent.mkdir()
    target.write_text("last night's file\n")

    planned, ran = plan_and_run(sandbox, tmp_path, DOWNLOAD)

    line = line_of(DOWNLOAD, "- download:")
    for done in (planned, ran):
        assert done.returncode == 2, done.stdout + done.stderr
        assert re.search(
            rf"m\.yaml:{line}:\d+: jobs\.sends\.on_success\[0\]\.download\.path: {re.escape(written)} "
            r"already exists, and overwrite is never.*overwrite: always",
            done.stdout,
        ), done.stdout
    assert posts(sandbox) == []  # before: the export ran, then its download failed
    assert target.read_text() == "last night's file\n"


def test_a_file_in_the_way_of_the_download_folder_fails_the_plan(
    sandbox: Any, tmp_path: Path
) -> None:
    (tmp_path / "out").write_text("a file, not a folder\n")
    planned, ran = plan_and_run(sandbox, tmp_path, DOWNLOAD)
    for done in (planned, ran):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "download.path: cannot save the export in out: out is a file" in done.stdout
    assert posts(sandbox) == []


def test_the_download_folder_free_plans_and_runs(sandbox: Any, tmp_path: Path) -> None:
    planned, ran = plan_and_run(sandbox, tmp_path, DOWNLOAD)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert len(posts(sandbox)) == 1


IMPORT_FROM_VARS = manifest_text(
    """
    signups:
      job: import
      list: Signups
      file: "${{ vars.folder }}/signups.txt"
""",
    header="vars:\n  folder: data\n",
)


def test_a_file_to_upload_at_a_resolved_path_is_pre_flighted_by_the_plan(
    sandbox: Any, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "signups.txt").write_text("not an address\nnor this\n")

    planned, ran = plan_and_run(sandbox, tmp_path, IMPORT_FROM_VARS)

    line = line_of(IMPORT_FROM_VARS, "file:")
    for done in (planned, ran):
        assert done.returncode == 2, done.stdout + done.stderr
        assert re.search(
            rf"m\.yaml:{line}:\d+: jobs\.signups\.file: no valid email address in 2 lines",
            done.stdout,
        ), done.stdout
    assert posts(sandbox) == []


def test_a_wrong_api_secret_is_one_line_and_exit_2_before_any_job(
    sandbox: Any, tmp_path: Path
) -> None:
    body = manifest_text("""
        a: {job: export_scheduled_sends}
        b: {job: export_scheduled_sends}
        c: {job: export_scheduled_sends}
    """)
    planned, ran = plan_and_run(sandbox, tmp_path, body, SAILTHRU_API_SECRET="not-the-secret")

    for done in (planned, ran):
        assert done.returncode == 2, done.stdout + done.stderr
        output = done.stdout + done.stderr
        assert output.count("Signature hash does not match") == 1, output
        assert "refused the credentials (GET /settings, which sends no job)" in output
        assert "not-the-secret" not in output
    assert posts(sandbox) == []
    assert [entry[:2] for entry in sandbox.request_log] == [("GET", "/settings")] * 2


def test_plan_without_credentials_says_in_one_line_that_it_did_not_check_them(
    sandbox: Any, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text(manifest_text("a: {job: export_scheduled_sends}\n"))
    planned = sailjobs_on(
        sandbox, tmp_path, "plan", "m.yaml", SAILTHRU_API_KEY="", SAILTHRU_API_SECRET=""
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    notes = [line for line in planned.stderr.splitlines() if "credentials not checked" in line]
    assert len(notes) == 1, planned.stderr
    assert sandbox.request_log == []


def test_plan_offline_reaches_no_server(sandbox: Any, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(manifest_text("a: {job: export_scheduled_sends}\n"))
    planned = sailjobs_on(
        sandbox, tmp_path, "plan", "m.yaml", "--offline", SAILTHRU_API_SECRET="not-the-secret"
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "--offline" in planned.stderr
    assert sandbox.request_log == []


def test_what_reads_the_run_id_is_left_to_the_run(sandbox: Any, tmp_path: Path) -> None:
    """The run's id exists once it starts: a plan does not check its placeholder."""
    body = manifest_text("""
        signups:
          job: import
          list: Signups
          file: "in/${{ run.id }}.txt"
    """)
    (tmp_path / "m.yaml").write_text(body, encoding="utf-8")
    planned = sailjobs_on(sandbox, tmp_path, "plan", "m.yaml", "--offline")
    assert planned.returncode == 0, planned.stdout + planned.stderr


def test_plan_refuses_an_api_url_that_run_would_refuse(sandbox: Any, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(manifest_text("a: {job: export_scheduled_sends}\n"))
    planned = sailjobs_on(sandbox, tmp_path, "plan", "m.yaml", SAILTHRU_API_URL="api.example.com")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "error: SAILTHRU_API_URL='api.example.com'" in planned.stderr


def test_a_new_user_s_plan_of_the_demo_needs_no_credentials(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parents[2] / "manifests", tmp_path / "manifests")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")}
    planned = subprocess.run(
        [SAILJOBS, "plan", "manifests/demo.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert planned.stdout.startswith("Plan: demo")
    assert planned.stderr.count("note: API credentials not checked") == 1, planned.stderr
