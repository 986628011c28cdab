"""Resume on another machine: a real ``sailjobs run --state postgresql://…`` on "machine A"
(its own folder: its own repository checkout and ``.sailjobs`` scratch folder) SIGKILLed at a
random moment, then the same command on "machine B" (another checkout of the same repository,
sharing only the database URL) runs it to the end. Every job is submitted exactly once
(counted by the sandbox, which lives here and outlives both), every downloaded file is the
export's whole content, and B exits 0.

The kill never lands while a POST is on the wire: that window (intent recorded, job_id not
yet) is the one case a resume cannot settle without duplicating an export or failing an
import (see tests/executor/test_resume.py). So the runner is first stopped (SIGSTOP), the
state read: if a job has an intent without a job_id, the runner goes on (SIGCONT) for a few
milliseconds and is stopped again; otherwise it is killed where it stands.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sailjobs_process import (
    finish,
    jobs_in_state,
    kill_outside_a_post,
    make_checkout,
    start_sailjobs,
    wait_for,
)

from runner.testing import wait_for_job

pytestmark = pytest.mark.slow

TRIALS = 20
SEED = int(os.environ.get("SAILJOBS_CRASH_SEED", "14"))  # replay a failure: its printed seed
SLOW_EXPORT_SECONDS = 3.0  # the run's long pole: a kill in the first 2 s finds it running
KILL_WITHIN = 2.0  # seconds after the first submission

IMPORTS = {f"imp{i}": [f"m{i}-{n}@example.com" for n in range(i + 2)] for i in range(6)}
DEMO_EXPORTS = {"main": "Main Newsletter", "engaged": "Engaged", "vip": "VIP"}


def manifest() -> str:
    """20 jobs: 6 imports each exported once they are in, 3 exports of the demo lists (the
    VIP one slow), a purchase import and 4 exports without a download."""
    jobs = []
    for name, emails in IMPORTS.items():
        jobs.append(
            f"  {name}:\n    job: import\n    list: R {name}\n    emails: {','.join(emails)}\n"
        )
        jobs.append(
            f"  x{name}:\n    job: export_list_data\n    list: R {name}\n    needs: [{name}]\n"
            f"    on_success:\n      - download: {{path: out/{name}.csv}}\n"
        )
    for name, list_name in DEMO_EXPORTS.items():
        jobs.append(
            f"  {name}:\n    job: export_list_data\n    list: {list_name}\n"
            f"    on_success:\n      - download: {{path: out/{name}.csv}}\n"
        )
    jobs.append("  purchases:\n    job: purchase_import\n    file: purchases.jsonl\n")
    jobs += [f"  sends{i}:\n    job: export_scheduled_sends\n" for i in range(4)]
    return (
        "version: 1\nname: cross\ndefaults:\n  timeout: 2m\n"
        "  poll: {initial: 0.1s, max: 0.3s}\n  retry: {attempts: 5, initial: 0.2s, max: 2s}\n"
        "concurrency: 8\njobs:\n" + "".join(jobs)
    )


DOWNLOADS = [f"x{name}" for name in IMPORTS] + list(DEMO_EXPORTS)
DOWNLOAD_FILE = {
    **{f"x{name}": f"{name}.csv" for name in IMPORTS},
    **{n: f"{n}.csv" for n in DEMO_EXPORTS},
}


def job_time(payload: dict[str, Any]) -> float:
    return SLOW_EXPORT_SECONDS if payload.get("list") == "VIP" else 0.2


@pytest.fixture
def machines(tmp_path: Path) -> tuple[Path, Path]:
    """Two checkouts of one repository (``.git`` in each), the manifest in ``jobs/``."""
    repo = Path(__file__).resolve().parents[2]
    made = []
    for name in ("machine-a", "machine-b"):
        checkout = tmp_path / name
        make_checkout(checkout)
        (checkout / "jobs").mkdir()
        (checkout / "jobs" / "m.yaml").write_text(manifest())
        shutil.copyfile(
            repo / "manifests" / "data" / "demo-purchases.jsonl",
            checkout / "jobs" / "purchases.jsonl",
        )
        made.append(checkout / "jobs")
    return made[0], made[1]


def run_on(folder: Path, sandbox: Any, url: str) -> subprocess.Popen[str]:
    return start_sailjobs(folder, sandbox, "run", "m.yaml", "--state", url)


def export_content(sandbox: Any, job_id: str) -> bytes:
    job = sandbox.job(job_id)
    with urllib.request.urlopen(job["export_url"], timeout=10) as answer:
        return bytes(answer.read())


def assert_each_job_once_and_every_file_complete(sandbox: Any, url: str, a: Path, b: Path) -> None:
    submitted = Counter(p.get("list") or p["job"] for p in sandbox.submissions())
    expected = Counter(
        {**{f"R {name}": 2 for name in IMPORTS}, **{n: 1 for n in DEMO_EXPORTS.values()}}
    )
    expected.update({"purchase_import": 1, "export_scheduled_sends": 4})
    assert submitted == expected
    rows = jobs_in_state(url)
    assert {row["status"] for row in rows.values()} == {"succeeded"}, rows
    for job in DOWNLOADS:
        # A download recorded as done on A stays on A (a finished action is never repeated);
        # one cut short there is done on B. A kill between the file's rename into place and
        # the record of the action leaves a whole copy on A and B downloads it again: the file
        # and the database cannot change in one step. Every copy is whole, and there is one.
        copies = [folder / "out" / DOWNLOAD_FILE[job] for folder in (a, b)]
        found = [path.read_bytes() for path in copies if path.exists()]
        whole = export_content(sandbox, str(rows[job]["remote_job_id"]))
        assert found and all(copy == whole for copy in found), job
    if (b / "out").exists():
        assert not [p.name for p in (b / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_killed_on_machine_a_resumed_on_machine_b_submits_each_job_once(
    trial: int, sandbox_factory, postgres_url: str, machines: tuple[Path, Path]
) -> None:
    seed = SEED * 1000 + trial
    moment = random.Random(seed).uniform(0.0, KILL_WITHIN)
    print(f"SAILJOBS_CRASH_SEED={SEED} trial {trial}: kill {moment:.3f} s after the first POST")
    sandbox = sandbox_factory(job_time=job_time)
    a, b = machines
    process = run_on(a, sandbox, postgres_url)
    wait_for(lambda: bool(sandbox.submissions()), process)
    time.sleep(moment)
    kill_outside_a_post(process, postgres_url)

    rc, output = finish(run_on(b, sandbox, postgres_url))
    assert rc == 0, output
    assert "resuming run" in output
    assert_each_job_once_and_every_file_complete(sandbox, postgres_url, a, b)


def test_an_export_that_finished_with_no_runner_alive_is_downloaded_on_machine_b(
    sandbox_factory, postgres_url: str, machines: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=job_time)
    a, b = machines
    process = run_on(a, sandbox, postgres_url)
    wait_for(lambda: bool(jobs_in_state(postgres_url).get("vip", {}).get("remote_job_id")), process)
    kill_outside_a_post(process, postgres_url)
    vip = str(jobs_in_state(postgres_url)["vip"]["remote_job_id"])
    assert sandbox.job(vip)["status"] != "completed"
    wait_for_job(sandbox, vip, timeout=20)  # finished while no runner is alive

    rc, output = finish(run_on(b, sandbox, postgres_url))
    assert rc == 0, output
    assert not (a / "out" / "vip.csv").exists()
    assert (b / "out" / "vip.csv").read_bytes() == export_content(sandbox, vip)
    assert_each_job_once_and_every_file_complete(sandbox, postgres_url, a, b)
