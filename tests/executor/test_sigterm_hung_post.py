"""One SIGTERM ends a run within seconds even while its POST hangs on the wire: the job is
left as after a crash (sent, answer unknown), the run is interrupted and resumable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.exitcodes import ExitCode

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
MANIFEST = """\
version: 1
name: hung-post
jobs:
  import-vip:
    job: import
    list: VIP
    emails: ada@example.com
"""
# The bug: the run waited for the answer to the POST, which never came (forever).
BOUND = 20.0


class HangingServer(ThreadingHTTPServer):
    """Reads each request whole, then never answers (until the test ends)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hang)
        self.posts = 0
        self.received = threading.Event()
        self.release = threading.Event()


class _Hang(BaseHTTPRequestHandler):
    server: HangingServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts += 1
        self.server.received.set()
        self.server.release.wait(60)


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _run(workdir: Path, server: HangingServer) -> subprocess.Popen[str]:
    host, port = server.server_address[:2]
    env = {
        **os.environ,
        "SAILTHRU_API_URL": f"http://{host}:{port}",
        "SAILTHRU_API_KEY": "key",
        "SAILTHRU_API_SECRET": "secret-value-hung",
    }
    return subprocess.Popen(
        [SAILJOBS, "run", "m.yaml", "--state", "st"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _rows(workdir: Path, table: str) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{workdir / 'st' / 'state.db'}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]


def test_one_sigterm_ends_the_run_while_a_post_hangs(tmp_path, hanging_server) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    process = _run(tmp_path, hanging_server)
    try:
        assert hanging_server.received.wait(BOUND), "the POST never arrived"
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        output, _ = process.communicate(timeout=BOUND)
    finally:
        process.kill()
    assert time.monotonic() - started < BOUND
    assert process.returncode == ExitCode.INTERRUPTED, output
    assert "import-vip: no answer to its submission" in output
    [job] = _rows(tmp_path, "jobs")
    assert job["intent_at"] is not None and job["remote_job_id"] is None  # ambiguous
    [run] = _rows(tmp_path, "runs")
    assert run["status"] == "interrupted"

    # Resumable: the next run continues this one and, for an import (a second one would
    # not be harmless), says the job may or may not exist instead of sending it again.
    again = _run(tmp_path, hanging_server)
    output, _ = again.communicate(timeout=BOUND)
    assert f"resuming run {run['run_id']}" in output
    assert "may or may not exist" in output
    assert again.returncode == ExitCode.JOB_FAILED
    assert hanging_server.posts == 1
