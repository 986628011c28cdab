"""Crashes and interrupts: a real ``sailjobs run`` process SIGKILLed (or SIGINTed) at chosen
points, then run again. Every job is submitted exactly once (counted by the sandbox, which
lives in the test process and so outlives the runner), every export is complete on disk,
and no partial file is left.

The kill points are found by watching the run state (its SQLite file, read from here) and
the download folder, not by hooks inside the runner. The jobs run one after the other
after the two imports, so that no kill lands while another job's POST is on the wire: that
window (sent, answer not yet stored) is the one case a rerun cannot settle without
duplicating an export or failing an import (see test_resume.py).
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sailjobs_process import finish, start_sailjobs, wait_for

from runner.results import JobStatus

pytestmark = pytest.mark.slow

BIG_LIST_USERS = 50_000

MANIFEST = """\
version: 1
name: crash
defaults:
  timeout: 2m
  poll: {initial: 0.1s, max: 0.5s}
  retry: {attempts: 5, initial: 0.2s, max: 2s}
concurrency: 4
jobs:
  first:
    job: import
    list: Crash Import
    file: people.csv
  second:
    job: export_list_data
    list: Crash Import
    needs: [first]
    on_success:
      - download: {path: out/second.csv}
  big:
    job: export_list_data
    list: Big
    needs: [second]
    on_success:
      - download: {path: out/big.csv}
  purchases:
    job: purchase_import
    file: purchases.jsonl
"""


@pytest.fixture(scope="session")
def seeded_data(tmp_path_factory) -> Path:
    """Demo data plus a big list (so its download takes long enough to be cut), made once."""
    from runner.sandbox.seed import seed_big_list, seed_demo
    from runner.sandbox.store import Store

    data = tmp_path_factory.mktemp("crash-seed")
    store = Store(data / "sandbox.sqlite3")
    seed_demo(store)
    seed_big_list(store, "Big", BIG_LIST_USERS)
    store.close()
    return data / "sandbox.sqlite3"


@pytest.fixture
def crash_sandbox(sandbox_factory, tmp_path_factory, seeded_data: Path):
    data = tmp_path_factory.mktemp("crash-sandbox")
    shutil.copyfile(seeded_data, data / "sandbox.sqlite3")
    return sandbox_factory(data_dir=data, job_time=0.5)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    (tmp_path / "people.csv").write_text(
        "email\n" + "".join(f"crash{i}@example.com\n" for i in range(50))
    )
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "purchases.jsonl").write_bytes(
        (repo / "manifests" / "data" / "demo-purchases.jsonl").read_bytes()
    )
    return tmp_path


def start_run(workdir: Path, sandbox, *args: str) -> subprocess.Popen[str]:
    return start_sailjobs(workdir, sandbox, "run", "m.yaml", "--state", "st", *args)


def state_rows(workdir: Path) -> dict[str, dict[str, object]]:
    db = workdir / "st" / "state.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            conn.row_factory = sqlite3.Row
            return {row["job"]: dict(row) for row in conn.execute("SELECT * FROM jobs")}
    except sqlite3.OperationalError:  # the schema is being created
        return {}


def before_a_post(workdir: Path) -> bool:
    """Both imports were accepted; ``second`` (waiting for ``first``) is not sent yet."""
    rows = state_rows(workdir)
    imports = ("first", "purchases")
    return (
        all(rows.get(job, {}).get("remote_job_id") for job in imports)
        and not rows["second"]["intent_at"]
    )


def right_after_a_post(workdir: Path) -> bool:
    return bool(state_rows(workdir).get("second", {}).get("remote_job_id"))


def while_polling(workdir: Path) -> bool:
    return state_rows(workdir).get("big", {}).get("remote_status") == "running"


def during_a_download(workdir: Path) -> bool:
    out = workdir / "out"
    return out.is_dir() and any(path.name.startswith(".big.") for path in out.iterdir())


KILL_POINTS = {
    "before-a-post": before_a_post,
    "right-after-a-post": right_after_a_post,
    "while-polling": while_polling,
    "during-a-download": during_a_download,
}


def assert_complete_and_once(workdir: Path, sandbox) -> None:
    submitted = Counter(p.get("list") or p["job"] for p in sandbox.submissions())
    assert submitted == Counter({"Crash Import": 2, "Big": 1, "purchase_import": 1}), (
        submitted
    )  # "Crash Import": the import and the export of that list, once each
    assert Counter(p["job"] for p in sandbox.submissions()) == Counter(
        {"import": 1, "export_list_data": 2, "purchase_import": 1}
    )
    big = (workdir / "out" / "big.csv").read_text().splitlines()
    assert len(big) == BIG_LIST_USERS + 1
    second = (workdir / "out" / "second.csv").read_text().splitlines()
    assert len(second) == 51
    assert not [p for p in (workdir / "out").iterdir() if p.name.startswith(".")]
    assert {row["status"] for row in state_rows(workdir).values()} == {JobStatus.SUCCEEDED.value}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_submits_each_job_once_and_completes_every_file(
    point: str, crash_sandbox, workdir: Path
) -> None:
    process = start_run(workdir, crash_sandbox)
    wait_for(lambda: KILL_POINTS[point](workdir), process)
    process.send_signal(signal.SIGKILL)
    finish(process)
    rc, output = finish(start_run(workdir, crash_sandbox))
    assert rc == 0, output
    assert "resuming run" in output
    assert_complete_and_once(workdir, crash_sandbox)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_stops_with_130_and_the_next_run_resumes(
    signum: int, crash_sandbox, workdir: Path
) -> None:
    process = start_run(workdir, crash_sandbox)
    wait_for(lambda: while_polling(workdir), process)
    process.send_signal(signum)
    rc, output = finish(process)
    assert rc == 130, output
    assert "interrupted (`sailjobs run m.yaml --state st --resume` resumes it)" in output
    assert "Traceback" not in output
    rc, output = finish(start_run(workdir, crash_sandbox))
    assert rc == 0, output
    assert_complete_and_once(workdir, crash_sandbox)
