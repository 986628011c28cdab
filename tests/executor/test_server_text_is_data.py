"""Issue 13, item 6: server text is data. A hostile job API on loopback answers with a
``job_id``, an error message and a file name full of control characters, ANSI escapes,
``\\n::error::`` workflow commands and Markdown/HTML; a real ``sailjobs run`` (and
``sailjobs status``) shows them escaped in the terminal/CI log, the step summary and JUnit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.escaping import markdown_inline, printable, workflow_data, workflow_property
from runner.problems import Problem

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))

HOSTILE_ID = "5843\x1b[2J\x1b[31mFAKE\n::error::injected by the job id\r"
HOSTILE_ERROR = (
    "bad list\n::error file=x.yaml,line=1::pwned\x1b]8;;http://evil.example\x07click\x1b]8;;\x07"
    " | <img src=x onerror=alert(1)> [click](http://evil.example) `tick` \u202eevil\u202c"
)
HOSTILE_FILE = "export\r\n::warning::file.csv"

MANIFEST = """\
version: 1
name: hostile-server
defaults:
  timeout: 1m
  poll: {initial: 0.1s, max: 0.5s}
  retry: {attempts: 1, initial: 0.1s, max: 0.5s}
jobs:
  export-main:
    job: export_list_data
    list: Main
"""


class _HostileJobApi(BaseHTTPRequestHandler):
    """POST /job accepts the job; GET /job says it failed. Every text field is hostile."""

    def _answer(self, fields: dict[str, Any]) -> None:
        body = json.dumps(fields).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer({"job_id": HOSTILE_ID, "name": HOSTILE_FILE, "status": "pending"})

    def do_GET(self) -> None:
        self._answer(
            {
                "job_id": HOSTILE_ID,
                "name": HOSTILE_FILE,
                "filename": HOSTILE_FILE,
                "status": "error",
                "error_message": HOSTILE_ERROR,
            }
        )

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileJobApi)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def _env(url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")}
    return (
        base
        | {
            "SAILTHRU_API_URL": url,
            "SAILTHRU_API_KEY": "k",
            "SAILTHRU_API_SECRET": "s",
        }
        | extra
    )


def _assert_inert(text: str, where: str) -> None:
    for char in ("\x1b", "\r", "\x07", "\u202e"):
        assert char not in text, (where, char)
    assert not any(line.lstrip().startswith("::") for line in text.splitlines()), where


def test_hostile_server_text_is_escaped_in_every_output(hostile_api: str, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    summary = tmp_path / "summary.md"
    done = subprocess.run(
        [SAILJOBS, "run", "m.yaml", "--state", "st", "--junit", "junit.xml"],
        cwd=tmp_path, env=_env(hostile_api, GITHUB_STEP_SUMMARY=str(summary)),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # The terminal / CI log: the values are there, written out, on the job's own line.
    _assert_inert(done.stdout + done.stderr, "stdout/stderr")
    assert "pwned" in done.stdout and "\\n::error file=x.yaml" in done.stdout
    assert "\\x1b[2J" in done.stdout  # the job_id, as data

    markdown = summary.read_text(encoding="utf-8")
    _assert_inert(markdown, "step summary")
    assert "<img" not in markdown and "[click](" not in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(rows) == 3  # header, rule, the one job: nothing broke the table
    assert rows[2].replace("\\|", "").count("|") == 7  # six cells, none split

    ET.parse(tmp_path / "junit.xml")  # still well-formed XML

    shown = subprocess.run(
        [SAILJOBS, "status", "some-job"], env=_env(hostile_api),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    _assert_inert(shown.stdout + shown.stderr, "status")
    assert "::error file=x.yaml" in shown.stdout


def test_printable_writes_out_control_and_invisible_characters() -> None:
    assert printable("a\nb\r\x1b[31m\x07\u202ec\t") == "a\\nb\\r\\x1b[31m\\x07\\u202ec\\t"
    assert printable("plain text, ünïcode ✅") == "plain text, ünïcode ✅"


def test_workflow_command_escapes_follow_github() -> None:
    assert workflow_data("50%\r\n::error::x\x1b") == "50%25%0D%0A::error::x\\x1b"
    assert workflow_property("a,b:c.yaml") == "a%2Cb%3Ac.yaml"
    problem = Problem("m.yaml", 3, 1, "jobs.a", "bad\n::error::x\x1b[31m")
    assert problem.render_github() == (
        "::error file=m.yaml,line=3,col=1::jobs.a: bad%0A::error::x\\x1b[31m"
    )


def test_markdown_inline_keeps_text_as_text() -> None:
    assert markdown_inline("[x](http://e) `c` <b>|</b>\nnext") == (
        "\\[x\\](http://e) \\`c\\` &lt;b&gt;\\|&lt;/b&gt; next"
    )
