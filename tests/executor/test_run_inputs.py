"""`run` with --date, --target and --var, end to end on the sandbox, as a user runs it."""

from __future__ import annotations

import json
import shlex
import textwrap
from pathlib import Path
from typing import Any

from executor_helpers import FAST_DEFAULTS, sailjobs_on

REPO = Path(__file__).parents[2]


def test_date_runs_the_weekly_purchase_log_for_that_day(sandbox: Any, tmp_path: Path) -> None:
    (tmp_path / "manifests").mkdir()
    text = (REPO / "manifests" / "weekly-purchase-log.yaml").read_text()
    # Its failure email needs an SMTP server, which the run checks before it starts.
    (tmp_path / "manifests" / "weekly-purchase-log.yaml").write_text(text.split("\nnotify:")[0])
    summary = tmp_path / "summary.md"
    done = sailjobs_on(
        sandbox, tmp_path, "run", "manifests/weekly-purchase-log.yaml", "--date", "2026-01-05",
        "--report", "r.json", GITHUB_STEP_SUMMARY=str(summary),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "weekly-purchase-log (1 job) for 2026-01-05" in done.stdout + done.stderr
    (sent,) = sandbox.submissions("export_purchase_log")
    assert (sent["start_date"], sent["end_date"]) == ("20251229", "20260104")
    assert (tmp_path / "exports" / "purchases-week-of-20251229.csv").is_file()
    assert json.loads((tmp_path / "r.json").read_text())["run_date"] == "2026-01-05"
    assert " · for 2026-01-05" in summary.read_text()


TARGETS = """\
version: 1
name: t
vars:
  list: Main Newsletter
targets:
  staging:
    api_url: {url}
    api_key_env: STAGING_KEY
    api_secret_env: STAGING_SECRET
    vars: {{list: VIP}}
{defaults}
jobs:
  export-main:
    job: export_list_data
    list: ${{{{ vars.list }}}}
"""


def _targets_manifest(tmp_path: Path, sandbox: Any) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(TARGETS.format(url=sandbox.url, defaults=FAST_DEFAULTS))
    return path


def test_a_target_brings_its_api_credentials_and_vars(sandbox: Any, tmp_path: Path) -> None:
    _targets_manifest(tmp_path, sandbox)
    done = sailjobs_on(
        sandbox, tmp_path, "run", "m.yaml", "--target", "staging", "--report", "r.json",
        # The default variables hold a wrong key: only the target's own ones work.
        SAILTHRU_API_KEY="not-the-key", SAILTHRU_API_URL="http://127.0.0.1:9",
        STAGING_KEY=sandbox.api_key, STAGING_SECRET=sandbox.secret,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (sent,) = sandbox.submissions("export_list_data")
    assert sent["list"] == "VIP"  # the target's own var
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["options"]["target"] == "staging"
    assert "t (1 job) on staging" in done.stdout + done.stderr
    listed = sailjobs_on(sandbox, tmp_path, "runs", "m.yaml")
    assert listed.returncode == 0, listed.stderr
    assert "m.yaml (staging)" in listed.stdout and report["run_id"] in listed.stdout
    assert sandbox.secret not in done.stdout + done.stderr + (tmp_path / "r.json").read_text()


def test_a_target_without_its_credentials_names_its_variables(sandbox: Any, tmp_path: Path):
    _targets_manifest(tmp_path, sandbox)
    done = sailjobs_on(
        sandbox, tmp_path, "run", "m.yaml", "--target", "staging", STAGING_KEY=sandbox.api_key
    )
    assert done.returncode == 2
    assert "set STAGING_SECRET in the environment" in done.stderr
    assert sandbox.submissions() == []


def test_an_interrupted_run_resumes_only_with_its_own_inputs(
    sandbox: Any, tmp_path: Path, state_location: str
):
    from runner.executor.lifecycle import run_key
    from runner.executor.state import StateLocation, new_run_id
    from runner.manifest.inputs import Inputs, parse_date
    from runner.manifest.loader import load_manifest

    path = tmp_path / "m.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            name: t
            {textwrap.indent(FAST_DEFAULTS, " " * 12).strip()}
            jobs:
              purchases:
                job: export_purchase_log
                start_date: ${{{{ run.date | days_ago(1) | yyyymmdd }}}}
                end_date: ${{{{ run.date | yyyymmdd }}}}
            """
        )
    )
    loaded = load_manifest(path, inputs=Inputs(date=parse_date("2026-01-05")))
    # A run of 2026-01-05 that was interrupted, in a folder or a database.
    with StateLocation(state_location).open() as state:
        run_id = new_run_id()
        state.start_run(
            run_id,
            run_key(loaded),
            path,
            "t",
            "x",
            loaded.inputs.as_data(),  # type: ignore[arg-type]
        )
        state.end_run(run_id, interrupted=True, succeeded=False)
    refused = sailjobs_on(
        sandbox, tmp_path, "run", "m.yaml", "--state", state_location, "--date", "2026-01-06"
    )
    assert refused.returncode == 2
    assert sandbox.submissions() == []
    advised = refused.stderr.split("resume it with `")[1].split("`")[0]
    option = StateLocation(state_location).option()
    assert advised == f"sailjobs run m.yaml{option} --date 2026-01-05 --resume"
    resumed = sailjobs_on(sandbox, tmp_path, *shlex.split(advised)[1:])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming run {run_id}" in resumed.stdout + resumed.stderr
    (sent,) = sandbox.submissions("export_purchase_log")
    assert (sent["start_date"], sent["end_date"]) == ("20260104", "20260105")


def test_a_saved_plan_keeps_its_target_date_and_vars(sandbox: Any, tmp_path: Path) -> None:
    path = _targets_manifest(tmp_path, sandbox)
    path.write_text(
        path.read_text().replace(
            "    list: ${{ vars.list }}\n",
            "    list: ${{ vars.list }}\n"
            "    on_success:\n"
            "      - download: {path: 'out-${{ run.date | yyyymmdd }}.csv'}\n",
        )
    )
    staging = {"STAGING_KEY": sandbox.api_key, "STAGING_SECRET": sandbox.secret}
    planned = sailjobs_on(
        sandbox, tmp_path, "plan", "m.yaml", "--target", "staging", "--date", "2026-01-05",
        "--out", "plan.json", **staging,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stdout + planned.stderr
    data = json.loads((tmp_path / "plan.json").read_text())
    assert data["inputs"]["target"] == "staging" and data["run_date"] == "2026-01-05"
    done = sailjobs_on(
        sandbox, tmp_path, "run", "plan.json", "--report", "r.json",
        SAILTHRU_API_KEY="not-the-key", **staging,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (sent,) = sandbox.submissions("export_list_data")
    assert sent["list"] == "VIP"
    assert (tmp_path / "out-20260105.csv").is_file()
    options = json.loads((tmp_path / "r.json").read_text())["options"]
    assert (options["target"], options["plan"]) == ("staging", "plan.json")
