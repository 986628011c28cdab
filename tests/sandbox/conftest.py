"""Helpers for the sandbox tests: the official client pointed at a sandbox, job polling."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> SailthruClient:
    """``sailthru-client==2.3.5``, unchanged, talking to the demo sandbox."""
    return SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)


def poll(client: SailthruClient, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET /job until the job is completed or in error (as a client would)."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.api_get("job", {"job_id": job_id}).get_body()
        if body["status"] in ("completed", "error") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)
