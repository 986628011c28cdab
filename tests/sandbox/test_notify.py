"""Completion notices: the signed postback to a real receiver, report emails by SMTP or outbox."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from aiosmtpd.controller import Controller
from sailthru.sailthru_client import SailthruClient, get_signature_hash

from runner.sailthru.signature import verify
from runner.sandbox import Sandbox
from runner.testing import wait_for_job


class Receiver:
    """A real HTTP server on loopback that keeps the forms posted to it."""

    def __init__(self) -> None:
        self.forms: list[dict[str, str]] = []
        received = self.forms

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(dict(parse_qsl(self.rfile.read(length).decode())))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/postback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_postback_is_signed_like_sailthru(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    with Receiver() as receiver:
        job_id = client.api_post(
            "job",
            {"job": "export_list_data", "list": "VIP", "postback_url": receiver.url},
        ).get_body()["job_id"]
        wait_until(lambda: receiver.forms)
    form = receiver.forms[0]
    assert form["job_id"] == job_id
    assert form["status"] == "completed"
    assert form["export_url"].startswith(sandbox.url + "/export/")
    assert form["api_key"] == sandbox.api_key
    unsigned = {key: value for key, value in form.items() if key != "sig"}
    assert verify(sandbox.secret, unsigned, form["sig"])
    assert get_signature_hash(unsigned, sandbox.secret) == form["sig"]
    assert not verify("other-secret", unsigned, form["sig"])


def test_postback_for_a_failed_import(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    sandbox.faults.error_next_jobs(1)
    with Receiver() as receiver:
        client.api_post(
            "job",
            {"job": "import", "list": "P", "emails": "a@example.com", "postback_url": receiver.url},
        )
        wait_until(lambda: receiver.forms)
    assert receiver.forms[0]["status"] == "error"
    assert receiver.forms[0]["error"] == "true"


def test_report_email_goes_to_the_outbox_without_smtp(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job_id = client.api_post(
        "job", {"job": "export_scheduled_sends", "report_email": "crm@example.com"}
    ).get_body()["job_id"]
    wait_for_job(sandbox, job_id)
    wait_until(lambda: sandbox.outbox)
    message = sandbox.outbox[0]
    assert message["To"] == "crm@example.com"
    assert message["Subject"] == "Job completed: Export Scheduled Sends"
    body = message.get_content()
    assert job_id in body
    assert "/export/" not in body  # the capability URL is not mailed around


def test_report_email_survives_line_breaks_in_names_and_addresses(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    for report_email in ("ops@example.com\r\nBcc: spy@example.com", "ops@example.com"):
        payload = {"job": "import", "list": "Line\r\nBreak", "emails": "n@example.com"}
        job_id = client.api_post("job", {**payload, "report_email": report_email}).get_body()
        assert wait_for_job(sandbox, job_id["job_id"])["status"] == "completed"
    wait_until(lambda: sandbox.outbox and "not an email address" in caplog.text)
    (message,) = sandbox.outbox
    assert message["Subject"] == "Job completed: List Import: Line Break"
    assert message["To"] == "ops@example.com"
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_report_email_through_smtp(sandbox_factory) -> None:
    received: list[tuple[list[str], bytes]] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            received.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sandbox = sandbox_factory(smtp=f"127.0.0.1:{port}")
        client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
        client.api_post(
            "job",
            {
                "job": "import",
                "list": "M",
                "emails": "m@example.com",
                "report_email": "ops@example.com",
            },
        )
        wait_until(lambda: received)
    finally:
        controller.stop()
    recipients, content = received[0]
    assert recipients == ["ops@example.com"]
    assert b"Subject: Job completed: List Import: M" in content
    assert sandbox.outbox == []


def test_the_report_email_of_an_import_of_nobody_says_so_first(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    payload = {"job": "import", "list": "Nobody", "emails": "not-an-address"}
    job_id = client.api_post("job", {**payload, "report_email": "crm@example.com"}).get_body()
    assert wait_for_job(sandbox, job_id["job_id"])["import_count"] == 0
    wait_until(lambda: sandbox.outbox)
    (message,) = sandbox.outbox
    assert message["Subject"] == "Job completed: List Import: Nobody (no addresses imported)"
    body = message.get_content().splitlines()
    assert body[0] == (
        "No email addresses imported: no valid address among the 1 value(s) of `emails`."
    )
    assert "import_count: 0" in body
