"""``sailjobs runs`` and ``sailjobs show`` on a PostgreSQL state, read by the machine that
resumes a run: a run killed on "machine A" (its own checkout and process) and resumed from
"machine B" (another checkout of the repository, sharing only the URL) is listed once,
under the host and process that ran it last."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from executor_helpers import manifest_text
from sailjobs_process import make_checkout

from runner.executor.state import StateLocation

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
MANIFEST = manifest_text("exp:\n  job: export_scheduled_sends\n  timeout: 1m\n")


def checkout(folder: Path) -> None:
    make_checkout(folder)
    (folder / "m.yaml").write_text(MANIFEST)


def sailjobs(sandbox, workdir: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    env |= {
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
    }
    return subprocess.Popen(
        [SAILJOBS, *args], cwd=workdir, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def submitted(location: StateLocation) -> str | None:
    """The run id once its export has a job_id in the state."""
    with location.open() as state:
        for run in state.runs():
            if any(job.remote_job_id for job in state.jobs(run.run_id).values()):
                return run.run_id
    return None


def test_a_run_resumed_from_another_checkout_is_listed_under_its_last_process(
    sandbox_factory, postgres_url: str, tmp_path: Path
) -> None:
    slow = sandbox_factory(seed="demo", job_time=3.0)
    location = StateLocation(postgres_url)
    checkout(tmp_path / "machine-a")
    checkout(tmp_path / "machine-b")

    on_a = sailjobs(slow, tmp_path / "machine-a", "run", "m.yaml", "--state", postgres_url)
    deadline = time.monotonic() + 30
    while (run_id := submitted(location)) is None:
        assert on_a.poll() is None and time.monotonic() < deadline, on_a.communicate()
        time.sleep(0.1)
    on_a.send_signal(signal.SIGKILL)  # machine A is gone, its export still running
    on_a.communicate(timeout=10)
    with location.open() as state:
        assert state.run(run_id).pid == on_a.pid and state.run(run_id).unfinished

    on_b = sailjobs(slow, tmp_path / "machine-b", "run", "m.yaml", "--state", postgres_url)
    out, err = on_b.communicate(timeout=60)
    assert on_b.returncode == 0, out + err
    assert len(slow.submissions()) == 1  # polled from B, never submitted again
    with location.open() as state:
        (run,) = state.runs()
        assert (run.run_id, run.pid, run.host) == (run_id, on_b.pid, socket.gethostname())

    listing = sailjobs(slow, tmp_path, "runs", "--state", postgres_url).communicate(timeout=60)[0]
    header, row = listing.splitlines()
    assert re.split(r"\s{2,}", header)[2] == "HOST"
    assert re.split(r"\s{2,}", row)[1:3] == [run_id, socket.gethostname()]
    assert re.split(r"\s{2,}", row)[5] == "succeeded"

    shown = sailjobs(slow, tmp_path, "show", run_id, "--state", postgres_url).communicate(
        timeout=60
    )[0]
    assert f"host:     {socket.gethostname()}\n" in shown
    assert f"run {run_id} succeeded" in shown
