"""A job's ``timeout`` counts from the start of its submission: time spent sending it (a
slow answer, retries) is part of it, not added on top."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runner.executor.lifecycle import run
from runner.results import JobStatus
from runner.sailthru.client import SailthruClient

MANIFEST = """\
version: 1
name: slow-submit
jobs:
  export-vip:
    job: export_list_data
    list: VIP
    timeout: 2s
    poll: {initial: 0.1s, max: 0.2s}
"""
POST_ANSWER_DELAY = 2.5  # longer than the job's timeout


class SlowPostServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.gets = 0


class _Handler(BaseHTTPRequestHandler):
    server: SlowPostServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(POST_ANSWER_DELAY)
        self._answer({"job_id": "5a1b2c3d4e5f60718293a4b5", "status": "pending"})

    def do_GET(self) -> None:
        self.server.gets += 1
        self._answer({"job_id": "5a1b2c3d4e5f60718293a4b5", "status": "running"})


@pytest.fixture
def slow_post_server() -> Iterator[SlowPostServer]:
    server = SlowPostServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_timeout_covers_the_time_spent_submitting(tmp_path, slow_post_server) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(MANIFEST)
    host, port = slow_post_server.server_address[:2]
    with SailthruClient("key", "secret-value-slow", f"http://{host}:{port}") as client:
        result = run(manifest, client=client, state=tmp_path / "st")
    job = result.jobs["export-vip"]
    assert job.status is JobStatus.TIMED_OUT
    # Its 2 s were used up before the answer came: asked once at its deadline (only
    # Sailthru's answer times a job out), not polled for 2 s more as the bug did.
    assert slow_post_server.gets <= 1
