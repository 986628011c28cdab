"""Real ``sailjobs`` processes for the crash and reliability tests: started against a sandbox
that lives in the test process (so it outlives them and counts every submission), waited
for, killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


ORIGIN = "https://github.com/acme/pipelines.git"


def make_checkout(folder: Path, origin: str = ORIGIN) -> Path:
    """A checkout of a git repository as the runner sees one: ``.git`` with an ``origin``
    remote (the repository's name on every machine), at ``folder``."""
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "config").write_text(f'[remote "origin"]\n\turl = {origin}\n')
    return folder


def sandbox_env(sandbox: Any, **extra: str) -> dict[str, str]:
    """This process's environment plus the sandbox's API URL and credentials."""
    return {
        **os.environ,
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        **extra,
    }


def start_sailjobs(
    cwd: Path, sandbox: Any, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``sailjobs ARGS`` in ``cwd`` against ``sandbox``, its output (both streams) piped."""
    return subprocess.Popen(
        [SAILJOBS, *args],
        cwd=cwd,
        env=env or sandbox_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 30.0
) -> None:
    """Until ``condition()``; fails the test if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the run ended (rc {process.returncode}) before the kill point:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the kill point was never reached")
        time.sleep(0.002)


def finish(process: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    """The exit code and the whole output of a process, once it ended."""
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def jobs_in_state(state: str) -> dict[str, dict[str, Any]]:
    """The jobs table of a state (a ``postgresql://`` URL or a folder) as the runners left
    it, read from here; {} before a runner created it."""
    query = "SELECT job, intent_at, remote_job_id, status FROM jobs"
    if state.startswith("postgresql://"):
        with psycopg.connect(state, autocommit=True) as conn:
            try:
                cursor = conn.execute(query)
            except psycopg.errors.UndefinedTable:
                return {}
            names = [column.name for column in cursor.description or ()]
            rows = cursor.fetchall()
    else:
        db = Path(state) / "state.db"
        if not db.exists():
            return {}
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
                sqlite_cursor = conn.execute(query)
                names = [column[0] for column in sqlite_cursor.description]
                rows = sqlite_cursor.fetchall()
        except sqlite3.OperationalError:  # the schema is being created
            return {}
    return {row[0]: dict(zip(names, row, strict=True)) for row in rows}


def no_post_on_the_wire(state: str) -> bool:
    """With the runner stopped: no job has its intent recorded without its job_id."""
    rows = jobs_in_state(state).values()
    return not any(row["intent_at"] and not row["remote_job_id"] for row in rows)


def stop_outside_a_post(process: subprocess.Popen[str], state: str) -> None:
    """Stop the runner (SIGSTOP) where no POST is on the wire (intent recorded, job_id not
    yet: the one window a resume cannot settle): stopped, its state is read; if a POST is
    out, it goes on (SIGCONT) a few milliseconds and is stopped again."""
    while True:
        process.send_signal(signal.SIGSTOP)
        if no_post_on_the_wire(state):
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.005)


def kill_outside_a_post(process: subprocess.Popen[str], state: str) -> None:
    """SIGKILL the runner, never while a POST is on the wire."""
    stop_outside_a_post(process, state)
    process.send_signal(signal.SIGKILL)
    finish(process)
