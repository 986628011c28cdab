"""Two runners of one manifest: one run at a time, on either backend. Started together from
two checkouts of one repository (the manifest is the same one, named by its repository path)
on one state (a PostgreSQL URL, or one SQLite folder both name): with ``--lock-timeout`` the
second waits, then finds nothing left to do; without, it fails at once naming the holder.
And a holder that dies without releasing the lock loses it at once."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
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

MANIFEST = """\
version: 1
name: two
defaults:
  poll: {initial: 0.1s, max: 0.3s}
jobs:
  imp:
    job: import
    list: Two
    emails: a@example.com,b@example.com
  exp:
    job: export_list_data
    list: Two
    needs: [imp]
    on_success:
      - download: {path: out/two.csv}
  sends:
    job: export_scheduled_sends
"""
JOB_TIME = 1.0  # the holder runs for about two of these


@pytest.fixture(params=["postgres", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(tmp_path / "shared-state")  # one folder both runners name (one machine)


@pytest.fixture
def checkouts(tmp_path: Path) -> tuple[Path, Path]:
    made = []
    for name in ("one", "two"):
        make_checkout(tmp_path / name)
        (tmp_path / name / "m.yaml").write_text(MANIFEST)
        made.append(tmp_path / name)
    return made[0], made[1]


def run_in(folder: Path, sandbox: Any, state: str, *args: str) -> subprocess.Popen[str]:
    return start_sailjobs(folder, sandbox, "run", "m.yaml", "--state", state, *args)


def assert_each_job_once(sandbox: Any) -> None:
    submitted = Counter(p["job"] for p in sandbox.submissions())
    assert submitted == Counter({"import": 1, "export_list_data": 1, "export_scheduled_sends": 1})


def test_started_together_with_a_lock_timeout_one_runs_and_the_other_finds_nothing_to_do(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    first, second = (
        run_in(folder, sandbox, state, "--lock-timeout", "60s") for folder in checkouts
    )
    (rc1, out1), (rc2, out2) = finish(first), finish(second)
    assert (rc1, rc2) == (0, 0), out1 + out2
    assert_each_job_once(sandbox)
    # Which one waited is the race's: the one that finds nothing left to do.
    waiter, runner = (out1, out2) if "nothing left to do" in out1 else (out2, out1)
    assert "nothing left to do: run " in waiter and " succeeded while this one waited" in waiter
    assert "nothing left to do" not in runner and "waiting for the other run" not in runner


def test_a_waiter_with_a_newer_version_of_the_manifest_runs_it(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    older, newer = checkouts
    (newer / "m.yaml").write_text(MANIFEST + "  more:\n    job: export_scheduled_sends\n")
    holder = run_in(older, sandbox, state)
    wait_for(lambda: bool(sandbox.submissions()), holder)
    waiter = run_in(newer, sandbox, state, "--lock-timeout", "60s")
    (rc1, out1), (rc2, out2) = finish(holder), finish(waiter)
    assert (rc1, rc2) == (0, 0), out1 + out2
    # The newer commit has work of its own (a job the older one did not have): it runs.
    assert "nothing left to do" not in out2
    assert len(sandbox.submissions("export_scheduled_sends")) == 3


def test_the_waiter_of_a_run_that_failed_exits_as_it_did_and_says_how_to_retry(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    sandbox.faults.error_next_jobs(1)  # the first job submitted ends in "error"
    first, second = (
        run_in(folder, sandbox, state, "--lock-timeout", "60s") for folder in checkouts
    )
    (rc1, out1), (rc2, out2) = finish(first), finish(second)
    assert (rc1, rc2) == (1, 1), out1 + out2
    waiter = out1 if "nothing left to do" in out1 else out2
    assert " failed while this one waited" in waiter
    assert "`sailjobs run m.yaml --state " in waiter and " --retry-failed` retries it" in waiter
    # The holder's submissions only (its failed job's dependant never went): none twice.
    assert max(Counter(p["job"] for p in sandbox.submissions()).values()) == 1


def test_without_a_lock_timeout_the_second_fails_at_once_naming_the_holder(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    holder = run_in(checkouts[0], sandbox, state)
    wait_for(lambda: bool(sandbox.submissions()), holder)
    started = time.monotonic()
    rc, output = finish(run_in(checkouts[1], sandbox, state), timeout=20)
    assert rc == 2, output
    assert time.monotonic() - started < 15  # "at once": it never waits for the holder
    (line,) = [line for line in output.splitlines() if "holds its lock" in line]
    assert f"host {socket.gethostname()}, pid {holder.pid}, since 20" in line
    rc, output = finish(holder)
    assert rc == 0, output
    assert_each_job_once(sandbox)


def test_a_holder_killed_without_releasing_the_lock_loses_it_at_once(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    holder = run_in(checkouts[0], sandbox, state)
    wait_for(lambda: bool(jobs_in_state(state).get("imp", {}).get("remote_job_id")), holder)
    kill_outside_a_post(holder, state)
    assert holder.returncode == -signal.SIGKILL
    # No --lock-timeout: the lock must be free the moment the holder's process is gone.
    rc, output = finish(run_in(checkouts[1], sandbox, state), timeout=30)
    assert rc == 0, output
    assert "resuming run" in output
    assert_each_job_once(sandbox)


def test_a_waiter_whose_holder_is_killed_takes_the_lock_and_resumes_its_run(
    sandbox_factory, state: str, checkouts: tuple[Path, Path]
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    holder = run_in(checkouts[0], sandbox, state)
    wait_for(lambda: bool(jobs_in_state(state).get("imp", {}).get("remote_job_id")), holder)
    waiter = run_in(checkouts[1], sandbox, state, "--lock-timeout", "60s")
    wait_for(lambda: _said(waiter, "waiting for the other run"), waiter)
    kill_outside_a_post(holder, state)
    rc, output = finish(waiter, timeout=30)
    assert rc == 0, output
    assert "resuming run" in output and "nothing left to do" not in output
    assert_each_job_once(sandbox)


def _said(process: subprocess.Popen[str], text: str) -> bool:
    """Whether the process printed a line with ``text`` yet (reads its output line by line)."""
    assert process.stdout is not None
    return text in process.stdout.readline()
