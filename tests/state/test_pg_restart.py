"""The PostgreSQL server goes away in the middle of a real ``sailjobs run``: restarted, or
stopped for a few seconds, the runner retries its state writes and finishes, each job
submitted once; gone for longer than the retry window (``SAILJOBS_STATE_RETRY_SECONDS``,
short here), the run stops with exit 2 and one clear line, having sent nothing whose intent
it had not recorded, and the same command resumes it to success once the server is back."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sailjobs_process import (
    finish,
    jobs_in_state,
    make_checkout,
    sandbox_env,
    start_sailjobs,
    stop_outside_a_post,
    wait_for,
)

from runner.executor.state.postgres import PostgresState

pytestmark = pytest.mark.slow

LISTS = [f"Restart {i}" for i in range(6)]
MANIFEST = (
    "version: 1\nname: restart\ndefaults:\n  timeout: 2m\n  poll: {initial: 0.1s, max: 0.3s}\n"
    "concurrency: 2\njobs:\n"
    + "".join(
        f"  imp{i}:\n    job: import\n    list: {name}\n    emails: r{i}@example.com\n"
        f"  exp{i}:\n    job: export_list_data\n    list: {name}\n    needs: [imp{i}]\n"
        f"    on_success:\n      - download: {{path: out/{i}.csv}}\n"
        for i, name in enumerate(LISTS)
    )
)
JOB_TIME = 0.4  # six rounds of two: the run lasts a few seconds


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    make_checkout(tmp_path)
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return tmp_path


def run_in(workdir: Path, sandbox: Any, url: str, **env: str) -> subprocess.Popen[str]:
    return start_sailjobs(
        workdir, sandbox, "run", "m.yaml", "--state", url, env=sandbox_env(sandbox, **env)
    )


def submitted_jobs(sandbox: Any) -> Counter[str]:
    """The manifest's job ids as the sandbox received them (a list name is one import then
    one export)."""
    seen: Counter[str] = Counter()
    for payload in sandbox.submissions():
        i = LISTS.index(payload["list"])
        seen[f"{'imp' if payload['job'] == 'import' else 'exp'}{i}"] += 1
    return seen


def mid_run(url: str) -> bool:
    return bool(jobs_in_state(url).get("imp1", {}).get("remote_job_id"))


def assert_each_job_once(sandbox: Any, workdir: Path) -> None:
    assert submitted_jobs(sandbox) == Counter(
        {f"{kind}{i}": 1 for kind in ("imp", "exp") for i in range(6)}
    )
    for i in range(6):  # a header and the list's one user
        _header, user = (workdir / "out" / f"{i}.csv").read_text().splitlines()
        assert f",Restart {i}," in user  # exports show a hash, not the address


def assert_quiet_about_reconnecting(output: str) -> None:
    """The retries are the runner's to report (its error, if they fail), not the
    connection pool's: no warning per reconnection attempt, no traceback."""
    assert "error connecting" not in output and "discarding closed connection" not in output
    assert "Traceback" not in output


def test_a_restart_in_the_middle_of_a_run_is_retried_through(
    sandbox_factory, postgres_cluster, postgres_url: str, workdir: Path
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    process = run_in(workdir, sandbox, postgres_url)
    wait_for(lambda: mid_run(postgres_url), process)
    postgres_cluster.restart()
    rc, output = finish(process)
    assert rc == 0, output
    assert_quiet_about_reconnecting(output)
    assert_each_job_once(sandbox, workdir)


def test_an_outage_of_a_few_seconds_is_retried_through(
    sandbox_factory, postgres_cluster, postgres_url: str, workdir: Path
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    process = run_in(workdir, sandbox, postgres_url)
    wait_for(lambda: mid_run(postgres_url), process)
    postgres_cluster.stop()
    time.sleep(4)
    postgres_cluster.start()
    rc, output = finish(process)
    assert rc == 0, output
    assert_quiet_about_reconnecting(output)
    assert_each_job_once(sandbox, workdir)


def test_an_outage_past_the_retry_window_stops_the_run_and_the_same_command_resumes_it(
    sandbox_factory, postgres_cluster, postgres_url: str, workdir: Path
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    process = run_in(workdir, sandbox, postgres_url, SAILJOBS_STATE_RETRY_SECONDS="2")
    wait_for(lambda: mid_run(postgres_url), process)
    # The server goes while no POST is on the wire (one already sent is answered and its
    # job_id recorded before the outage): a submission after it needs an intent it cannot
    # record, so nothing may reach the sandbox from here on.
    stop_outside_a_post(process, postgres_url)
    before = submitted_jobs(sandbox)
    postgres_cluster.stop()
    process.send_signal(signal.SIGCONT)
    stopped = time.monotonic()
    rc, output = finish(process, timeout=60)
    assert rc == 2, output
    # About the window set (2 s, then one last wait for a connection, as long at most):
    # the default window (30 s), or a 10 s wait for a connection in it, take far longer.
    assert time.monotonic() - stopped < 9
    (error,) = [line for line in output.splitlines() if line.startswith("error:")]
    assert "is out of reach" in error
    assert error.startswith("error: the state database postgresql://")
    assert "after 2 s of retries" in error
    assert f"then run `sailjobs run m.yaml --state '{postgres_url}'`" in error
    assert_quiet_about_reconnecting(output)
    assert submitted_jobs(sandbox) == before  # nothing sent without its intent recorded

    postgres_cluster.start()
    rows = jobs_in_state(postgres_url)
    assert {job for job, row in rows.items() if row["remote_job_id"]} == set(before)
    rc, output = finish(run_in(workdir, sandbox, postgres_url))
    assert rc == 0, output
    assert "resuming run" in output
    assert_each_job_once(sandbox, workdir)


@pytest.mark.parametrize(("text", "seconds"), [("2", 2.0), ("0.5", 0.5), ("90s", 90.0), ("", 30.0)])
def test_the_retry_window_is_read_from_the_environment(
    text: str, seconds: float, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SAILJOBS_STATE_RETRY_SECONDS", text)
    with PostgresState(postgres_url, scratch_dir=tmp_path) as state:
        assert state.retry_seconds == seconds


def test_a_bad_retry_window_stops_the_run_before_anything_is_sent(
    sandbox_factory, postgres_url: str, workdir: Path
) -> None:
    sandbox = sandbox_factory(job_time=JOB_TIME)
    rc, output = finish(run_in(workdir, sandbox, postgres_url, SAILJOBS_STATE_RETRY_SECONDS="soon"))
    assert rc == 2, output
    assert output.startswith("error: SAILJOBS_STATE_RETRY_SECONDS=soon: expected a duration")
    assert output.rstrip().endswith("unset it for the default 30s")
    assert len(output.splitlines()) == 1
    assert sandbox.submissions() == []
