"""``sailjobs run --select``: only the selected jobs are submitted; a selected job's upstream
that is not selected lends the outputs of its last successful run (real ``sailjobs``
processes against the sandbox, which records every submission), on both backends: the state
is ``SAILJOBS_STATE``, a folder or a database (``state_location``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from executor_helpers import manifest_text, sailjobs_on

from runner.executor.state import StateLocation

JOBS = """\
export-main:
  job: export_list_data
  list: Main Newsletter
  tags: [nightly]
  on_success:
    - download: {path: exports/main.csv}
tagged:
  job: import
  list: "Exported ${{ jobs.export-main.outputs.job_id }} (${{ jobs.export-main.outputs.rows }} rows)"
  emails: audit@example.com
"""


@pytest.fixture
def workdir(tmp_path: Path, state_location: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "m.yaml").write_text(manifest_text(JOBS))
    monkeypatch.setenv("SAILJOBS_STATE", state_location)  # every sailjobs below uses it
    return tmp_path


@pytest.fixture
def where(state_location: str) -> str:
    """The state as messages name it: "the state folder …", "the state database …"."""
    return StateLocation(state_location).describe()


def run(sandbox: Any, workdir: Path, *args: str) -> Any:
    return sailjobs_on(sandbox, workdir, "run", "m.yaml", *args)


def jobs_sent(sandbox: Any) -> list[str]:
    return [payload["job"] for payload in sandbox.submissions()]


def test_a_selected_job_runs_alone_with_the_outputs_of_its_upstreams_last_run(
    sandbox: Any, workdir: Path
) -> None:
    first = run(sandbox, workdir)
    assert first.returncode == 0, first.stdout + first.stderr
    export = sandbox.submissions("export_list_data")
    assert len(export) == 1
    first_list = sandbox.submissions("import")[0]["list"]
    run_id = re.search(r"run (\S+-[0-9a-f]{6})", first.stdout + first.stderr)
    assert run_id is not None

    again = run(sandbox, workdir, "--select", "tagged", "--report", "report.json")
    assert again.returncode == 0, again.stdout + again.stderr
    # Only the import went out; the export was not run again.
    assert jobs_sent(sandbox) == ["export_list_data", "import", "import"]
    # With the export's outputs of the first run, its download's row count among them.
    assert sandbox.submissions("import")[1]["list"] == first_list
    assert re.fullmatch(r"Exported \S+ \(300 rows\)", first_list)
    output = again.stdout + again.stderr
    assert f"export-main: not selected; outputs from run {run_id[1]} of " in output
    report = json.loads((workdir / "report.json").read_text())
    # The borrowed job is not one of this run's jobs (it did not run now); the report
    # says where its outputs came from.
    assert [job["id"] for job in report["jobs"]] == ["tagged"]
    assert report["options"]["borrowed"]["export-main"]["run_id"] == run_id[1]


def test_only_is_select(sandbox: Any, workdir: Path) -> None:
    assert run(sandbox, workdir).returncode == 0
    again = run(sandbox, workdir, "--only", "tagged")
    assert again.returncode == 0, again.stdout + again.stderr
    assert jobs_sent(sandbox) == ["export_list_data", "import", "import"]


def test_without_a_successful_upstream_run_nothing_is_sent(
    sandbox: Any, workdir: Path, where: str
) -> None:
    done = run(sandbox, workdir, "--select", "tagged")
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "m.yaml:14:3: jobs.tagged: tagged reads the job_id of 'export-main', which is not "
        f"selected and has no successful run in {where}; select it too "
        "(--select +tagged) or run it first"
    ]
    assert "1 problem in m.yaml; nothing was sent" in done.stderr
    assert sandbox.submissions() == []


def test_a_failed_upstream_run_is_not_borrowed(sandbox: Any, workdir: Path, where: str) -> None:
    manifest = workdir / "m.yaml"
    good = manifest.read_text()
    manifest.write_text(good.replace("list: Main Newsletter", "list: No Such List"))
    failed = run(sandbox, workdir)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    sent = jobs_sent(sandbox)
    manifest.write_text(good)
    done = run(sandbox, workdir, "--select", "tagged")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"has no successful run in {where}" in done.stdout
    assert jobs_sent(sandbox) == sent


def test_the_plan_names_the_run_the_outputs_come_from(
    sandbox: Any, workdir: Path, state_location: str
) -> None:
    missing = sailjobs_on(sandbox, workdir, "plan", "m.yaml", "--select", "tagged")
    assert missing.returncode == 2
    assert "tagged reads the job_id of 'export-main', which is not selected" in missing.stdout
    folder = StateLocation(state_location).folder
    assert folder is None or not folder.exists()  # the plan made no state folder
    assert run(sandbox, workdir).returncode == 0
    plan = sailjobs_on(
        sandbox, workdir, "plan", "m.yaml", "--select", "tagged", "--format", "json",
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    assert [job["id"] for job in data["jobs"]] == ["tagged"]
    (borrowed,) = data["borrowed"]
    assert borrowed["id"] == "export-main" and borrowed["needed_by"] == ["tagged"]
    # The parameters are shown as the run will send them.
    assert data["jobs"][0]["params"]["list"] == sandbox.submissions("import")[0]["list"]


RETRIED = """\
a:
  job: export_list_data
  list: Main Newsletter
b:
  job: export_list_data
  list: No Such List
  needs: [a]
c:
  job: export_list_data
  list: No Such List
"""


def test_retry_failed_with_a_selection_retries_only_the_selected_jobs(
    sandbox: Any, workdir: Path
) -> None:
    manifest = workdir / "m.yaml"
    manifest.write_text(manifest_text(RETRIED))
    first = run(sandbox, workdir)
    assert first.returncode == 1, first.stdout + first.stderr
    assert jobs_sent(sandbox) == ["export_list_data"]  # b and c refused: no such list
    manifest.write_text(manifest_text(RETRIED.replace("No Such List", "Engaged", 1)))
    again = run(sandbox, workdir, "--retry-failed", "--select", "b")
    output = again.stdout + again.stderr
    assert again.returncode == 0, output
    # b again (a's success and outputs from the run being retried); c, not selected, left.
    assert [p["list"] for p in sandbox.submissions()] == ["Main Newsletter", "Engaged"]
    run_id = re.search(r"retrying run (\S+):", output)
    assert run_id is not None
    assert f"a: not selected; outputs from run {run_id[1]} of " in output
