"""Faults on demand: each one observable from a client, reproducible with a seed."""

from __future__ import annotations

import time

import pytest
import requests
from sailthru.sailthru_client import SailthruClient
from sailthru.sailthru_error import SailthruClientError

from runner.sandbox import Faults, Sandbox
from runner.sandbox.faults import FAIL, INCOMPLETE_MESSAGE
from runner.testing import wait_for_job


def client_for(sandbox: Sandbox) -> SailthruClient:
    return SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)


def submit(client: SailthruClient) -> requests.Response:
    return client.api_post("job", {"job": "export_list_data", "list": "VIP"})


def test_fail_next_answers_5xx_then_recovers(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    sandbox.faults.fail_next(2, status=502, method="POST", path="/job")
    assert client.api_get("job", {"job_id": "0" * 24}).get_status_code() == 404  # GET unaffected
    first, second, third = submit(client), submit(client), submit(client)
    assert [first.get_status_code(), second.get_status_code()] == [502, 502]
    assert first.get_body() == {"error": 9, "errormsg": "Internal error"}
    assert third.get_status_code() == 200
    assert len(sandbox.submissions()) == 1


def test_error_rate_is_reproducible_with_a_seed(sandbox_factory) -> None:
    def draws(seed: int) -> list[int]:
        faults = Faults(seed=seed, error_rate=0.5)
        return [rule.status if (rule := faults.take(FAIL)) else 200 for _ in range(40)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)
    assert {500, 502, 503, 200} == set(draws(7))
    sandbox = sandbox_factory(faults=Faults(seed=3, error_rate=1.0))
    statuses = {submit(client_for(sandbox)).get_status_code() for _ in range(10)}
    assert statuses <= {500, 502, 503}
    assert sandbox.submissions() == []


def test_throttle_burst_answers_429_error_43(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    sandbox.faults.throttle_next(2)
    responses = [submit(client) for _ in range(3)]
    assert [r.get_status_code() for r in responses] == [429, 429, 200]
    assert responses[0].get_body() == {
        "error": 43,
        "errormsg": "Too many POST requests this minute to /job API",
    }
    assert client.get_last_rate_limit_info("job", "POST")["remaining"] == 39
    assert responses[0].get_response().headers["X-Rate-Limit-Remaining"] == "0"


def test_drop_before_body_sends_nothing_back_and_accepts_nothing(sandbox: Sandbox) -> None:
    sandbox.faults.drop_next(1, method="POST")
    with pytest.raises(SailthruClientError):
        submit(client_for(sandbox))
    assert sandbox.submissions() == []
    assert sandbox.request_log == [("POST", "/job", 0)]
    assert submit(client_for(sandbox)).get_status_code() == 200


def test_drop_after_body_accepts_the_job_but_loses_the_answer(sandbox: Sandbox) -> None:
    sandbox.faults.drop_next(1, after_body=True, method="POST", path="/job")
    with pytest.raises(SailthruClientError):
        submit(client_for(sandbox))
    assert sandbox.submissions() == [{"job": "export_list_data", "list": "VIP"}]


def test_drop_mid_response_sends_half_an_answer(sandbox: Sandbox) -> None:
    sandbox.faults.drop_next(1, mid_response=True, method="POST")
    with pytest.raises(SailthruClientError):
        submit(client_for(sandbox))
    assert len(sandbox.submissions()) == 1
    assert sandbox.request_log == [("POST", "/job", 200)]


def test_latency_delays_answers(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    started = time.monotonic()
    client_for(sandbox).api_get("settings", {})
    assert time.monotonic() - started >= 0.3


def test_cut_download_breaks_mid_stream_and_a_range_resumes(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    job = wait_for_job(sandbox, submit(client).get_body()["job_id"])
    with requests.get(job["export_url"], timeout=10) as response:
        whole = response.content
    sandbox.faults.cut_next_downloads(1)
    received = bytearray()
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError),
        requests.get(job["export_url"], stream=True, timeout=10) as response,
    ):
        assert response.headers["Content-Length"] == str(len(whole))
        for chunk in response.iter_content(1024):
            received.extend(chunk)
    assert 0 < len(received) < len(whole)
    headers = {"Range": f"bytes={len(received)}-"}
    with requests.get(job["export_url"], headers=headers, timeout=10) as rest:
        assert bytes(received) + rest.content == whole


def test_jobs_ending_in_error_and_stuck_in_pending(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    sandbox.faults.error_next_jobs(1)
    sandbox.faults.stick_next_jobs(1)
    stuck = submit(client).get_body()["job_id"]  # stuck rules are drawn first
    failed = submit(client).get_body()["job_id"]
    normal = submit(client).get_body()["job_id"]
    assert wait_for_job(sandbox, failed)["status"] == "error"
    assert "fault" in wait_for_job(sandbox, failed)["error_message"]
    assert wait_for_job(sandbox, normal)["status"] == "completed"
    time.sleep(0.3)
    assert sandbox.job(stuck)["status"] == "pending"


def test_jobs_ending_incomplete_say_why(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    sandbox.faults.incomplete_next_jobs(1)
    stopped = submit(client).get_body()["job_id"]
    normal = submit(client).get_body()["job_id"]
    job = wait_for_job(sandbox, stopped)
    assert job["status"] == "incomplete"
    assert job["error_message"] == INCOMPLETE_MESSAGE
    assert client.api_get("job", {"job_id": stopped}).get_body()["status"] == "incomplete"
    assert wait_for_job(sandbox, normal)["status"] == "completed"


def test_an_incomplete_import_says_error_true(sandbox: Sandbox) -> None:
    sandbox.faults.incomplete_next_jobs(1)
    payload = {"job": "import", "list": "Engaged", "emails": "a@example.com"}
    job_id = client_for(sandbox).api_post("job", payload).get_body()["job_id"]
    job = wait_for_job(sandbox, job_id)
    assert (job["status"], job["error"]) == ("incomplete", True)


def test_job_incomplete_rate_and_clear(sandbox_factory) -> None:
    sandbox = sandbox_factory(faults=Faults(job_incomplete_rate=1.0))
    job_id = submit(client_for(sandbox)).get_body()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "incomplete"
    sandbox.faults.clear()
    assert sandbox.faults.job_incomplete_rate == 0.0
    job_id = submit(client_for(sandbox)).get_body()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "completed"


def test_job_fault_rates(sandbox_factory) -> None:
    sandbox = sandbox_factory(faults=Faults(job_error_rate=1.0))
    job_id = submit(client_for(sandbox)).get_body()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "error"
    sandbox.faults.job_error_rate = 0.0
    sandbox.faults.job_stuck_rate = 1.0
    stuck = submit(client_for(sandbox)).get_body()["job_id"]
    with pytest.raises(TimeoutError):
        wait_for_job(sandbox, stuck, timeout=0.5)


def test_early_expiry_of_export_links(sandbox_factory) -> None:
    sandbox = sandbox_factory(faults=Faults(early_expiry=0.2))
    client = client_for(sandbox)
    job = wait_for_job(sandbox, submit(client).get_body()["job_id"])
    time.sleep(0.3)
    with requests.get(job["export_url"], timeout=10) as response:
        assert response.status_code == 404
    assert client.api_get("job", {"job_id": job["job_id"]}).get_body()["expired"] is True


def test_clear_removes_every_fault(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(5)
    sandbox.faults.error_rate = 1.0
    sandbox.faults.clear()
    assert submit(client_for(sandbox)).get_status_code() == 200


def test_bad_fault_settings_are_refused() -> None:
    faults = Faults()
    with pytest.raises(ValueError):
        faults.fail_next(0)
    with pytest.raises(ValueError):
        faults.fail_next(1, status=404)
