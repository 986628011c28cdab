"""Retries: what is retried, what never is (no duplicate job), and the waits in between."""

from __future__ import annotations

import logging
import socket
import time
import traceback
from pathlib import Path

import pytest
from scripted_servers import (
    SECRET,
    ScriptedServer,
    answer,
    drop_after_body,
    drop_before_body,
    job_answer,
    serve_file,
    slow,
    truncated_answer,
)

from runner.retries import RetryConfig
from runner.sailthru.client import AmbiguousSubmitError, ApiError

JOB = {"job": "import", "list": "L", "emails": "a@example.com"}


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error(code: int, message: str) -> dict[str, object]:
    return {"error": code, "errormsg": message}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_get_is_retried_on_5xx_with_capped_full_jitter(make_client, fake_clock, status) -> None:
    script = [answer(status, _error(9, "Internal error"))] * 3 + [job_answer(status="pending")]
    with ScriptedServer(script) as server:
        job = make_client(server.url).get_job("j1")
    assert job.status == "pending"
    assert len(server.requests) == 4
    # Full jitter: each wait is uniform in [0, initial * 2**n], capped by max.
    assert len(fake_clock.sleeps) == 3
    for wait, cap in zip(fake_clock.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert 0.0 <= wait <= cap


def test_get_gives_up_after_the_configured_attempts(make_client, fake_clock) -> None:
    with (
        ScriptedServer([answer(503, _error(9, "Service unavailable"))]) as server,
        pytest.raises(ApiError) as caught,
    ):
        make_client(server.url).get_job("j1")
    assert len(server.requests) == 4
    assert caught.value.transient and caught.value.http_status == 503
    assert "Service unavailable" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "code", "message", "hint"),
    [
        (400, 99, "Job not found", "parameters"),
        (400, 2, "Missing required parameter: list", "missing parameter"),
        (401, 5, "Signature hash does not match", "SAILTHRU_API_SECRET"),
        (400, 18, "Missing required parameter: start_date,end_date", "date"),
    ],
)
def test_permanent_errors_are_never_retried(make_client, fake_clock, status, code, message, hint):
    with ScriptedServer([answer(status, _error(code, message))]) as server:
        client = make_client(server.url)
        with pytest.raises(ApiError) as get_error:
            client.get_job("j1")
        with pytest.raises(ApiError) as post_error:
            client.submit_job(JOB, resubmit_safe=True)
    assert len(server.requests) == 2  # one each, no retry
    assert fake_clock.sleeps == []
    for error in (get_error.value, post_error.value):
        assert (error.code, error.http_status, error.transient) == (code, status, False)
        assert message in str(error) and hint in str(error)
        assert "\n" not in str(error)


def test_post_5xx_is_not_retried_unless_resubmit_is_safe(make_client, fake_clock) -> None:
    with (
        ScriptedServer([answer(502, _error(9, "Bad gateway"))]) as server,
        pytest.raises(AmbiguousSubmitError) as caught,
    ):
        make_client(server.url).submit_job(JOB)
    assert len(server.requests) == 1  # no duplicate job
    assert not caught.value.transient  # a caller must not blindly retry either
    assert "may or may not have been created" in str(caught.value)

    with ScriptedServer([answer(502, _error(9, "Bad gateway")), job_answer("j2")]) as server:
        job = make_client(server.url).submit_job(JOB, resubmit_safe=True)
    assert job.job_id == "j2" and len(server.requests) == 2


def test_post_dropped_after_the_body_was_read_is_ambiguous(make_client) -> None:
    with (
        ScriptedServer([drop_after_body(), job_answer()]) as server,
        pytest.raises(AmbiguousSubmitError),
    ):
        make_client(server.url).submit_job(JOB)
    assert len(server.requests) == 1
    assert server.requests[0].body_complete

    with ScriptedServer([drop_after_body(), job_answer("j3")]) as server:
        assert make_client(server.url).submit_job(JOB, resubmit_safe=True).job_id == "j3"
    assert len(server.requests) == 2


def test_post_dropped_before_the_body_was_read_is_retried(make_client, tmp_path: Path) -> None:
    # Big enough that the client is still sending when the server resets the connection.
    upload = tmp_path / "big.csv"
    upload.write_bytes(b"email\n" + b"someone@example.com\n" * (16 * 1024 * 1024 // 20))
    with ScriptedServer([drop_before_body(), job_answer("j4")]) as server:
        job = make_client(server.url).submit_job({"job": "import", "list": "L"}, file=upload)
    assert job.job_id == "j4"
    assert len(server.requests) == 2
    assert [r.body_complete for r in server.requests] == [False, True]
    assert server.requests[1].file == upload.read_bytes()


def test_a_reset_after_a_small_form_was_sent_is_ambiguous(make_client) -> None:
    # The whole form had left when the server reset the connection: a reset cannot tell
    # "unread" from "read, then crashed" (a proxy resets either way), so it is not sent again.
    def reset_later(handler, received) -> None:
        time.sleep(0.2)  # the client has handed the whole (small) form to its socket
        handler.reset_connection()

    with (
        ScriptedServer([reset_later, job_answer()]) as server,
        pytest.raises(AmbiguousSubmitError),
    ):
        make_client(server.url).submit_job(JOB)
    assert len(server.requests) == 1


def test_post_to_a_closed_port_is_retried(make_client, fake_clock) -> None:
    client = make_client(f"http://127.0.0.1:{_unused_port()}")
    with pytest.raises(ApiError) as caught:
        client.submit_job(JOB)
    assert not isinstance(caught.value, AmbiguousSubmitError)
    assert caught.value.transient and caught.value.http_status is None
    assert "connection refused" in str(caught.value)
    assert len(fake_clock.sleeps) == 3  # every attempt was made


def test_post_429_is_retried_after_the_reset(make_client, fake_clock) -> None:
    reset = int(fake_clock.now) + 30
    headers = {
        "X-Rate-Limit-Limit": "40",
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Reset": str(reset),
    }
    too_many = _error(43, "Too many POST requests this minute to /job API")
    with ScriptedServer([answer(429, too_many, headers), job_answer("j5")]) as server:
        job = make_client(server.url).submit_job(JOB)  # not resubmit_safe: 429 created nothing
    assert job.job_id == "j5" and len(server.requests) == 2
    assert fake_clock.sleeps == [pytest.approx(reset - 1_700_000_010.0)]


def test_429_without_headers_waits_for_the_next_minute(make_client, fake_clock) -> None:
    with ScriptedServer([answer(429, _error(43, "Too many requests")), job_answer()]) as server:
        make_client(server.url).get_job("j1")
    assert len(server.requests) == 2
    # 1_700_000_010 is 30 s before the top of a minute.
    assert fake_clock.sleeps == [pytest.approx(30.0)]


def test_remaining_zero_makes_the_next_call_wait_for_the_reset(make_client, fake_clock) -> None:
    reset = int(fake_clock.now) + 12
    headers = {
        "X-Rate-Limit-Limit": "300",
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Reset": str(reset),
    }

    def with_headers(handler, received):
        handler.read_body(received)
        handler.send_json(200, {"job_id": "j", "status": "pending"}, headers)

    with ScriptedServer([with_headers, job_answer()]) as server:
        client = make_client(server.url)
        client.get_job("j")
        state = client.budget_for("job", "GET")
        assert (state.limit, state.remaining, state.reset) == (300, 0, reset)
        assert fake_clock.sleeps == []
        client.get_job("j")
    assert fake_clock.sleeps == [pytest.approx(12.0)]
    assert client.budget_for("job", "POST").limit is None  # per endpoint and method


def test_slow_answer_times_out_and_get_is_retried(make_client) -> None:
    with ScriptedServer([slow(1.0, job_answer()), job_answer(status="running")]) as server:
        job = make_client(server.url, read_timeout=0.2).get_job("j1")
    assert job.status == "running" and len(server.requests) == 2


def test_slow_answer_to_a_post_is_ambiguous(make_client) -> None:
    with (
        ScriptedServer([slow(1.0, job_answer()), job_answer()]) as server,
        pytest.raises(AmbiguousSubmitError, match="timed out"),
    ):
        make_client(server.url, read_timeout=0.2).submit_job(JOB)
    assert len(server.requests) == 1


def test_each_attempt_is_logged_with_its_reason_and_no_secret(make_client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="sailjobs.client")
    script = [
        answer(503, _error(9, f"boom {SECRET}")),
        answer(429, _error(43, "slow down")),
        job_answer(),
    ]
    with ScriptedServer(script) as server:
        make_client(server.url).get_job("j1")
    messages = [r.getMessage() for r in caplog.records if r.name == "sailjobs.client"]
    assert any("attempt 1/4 failed: HTTP 503" in m for m in messages)
    assert any("attempt 2/4 failed: rate limited (HTTP 429, error 43)" in m for m in messages)
    assert not any(SECRET in m for m in messages)
    assert not any("sig=" in m for m in messages)


def test_an_upload_gets_a_read_timeout_that_fits_its_size(make_client, tmp_path: Path) -> None:
    # 0.3 s would time out on a 1 s answer; 2 MiB add 2 s to the upload's read timeout.
    upload = tmp_path / "two-mib.csv"
    upload.write_bytes(b"email\n" + b"x@example.com\n" * (2 * 1024 * 1024 // 14))
    with ScriptedServer([slow(1.0, job_answer("big"))]) as server:
        job = make_client(server.url, read_timeout=0.3).submit_job({"job": "import"}, file=upload)
    assert job.job_id == "big" and len(server.requests) == 1


def test_an_answer_cut_mid_body_is_retried_on_get(make_client, fake_clock) -> None:
    answer_body = {"job_id": "j1", "name": "List Import: L", "status": "pending"}
    with ScriptedServer([truncated_answer(answer_body), job_answer(status="running")]) as server:
        job = make_client(server.url).get_job("j1")
    assert job.status == "running" and len(server.requests) == 2
    assert len(fake_clock.sleeps) == 1


def test_an_answer_cut_mid_body_is_ambiguous_on_post(make_client) -> None:
    answer_body = {"job_id": "j1", "name": "List Import: L", "status": "pending"}
    with (
        ScriptedServer([truncated_answer(answer_body), job_answer("j2")]) as server,
        pytest.raises(AmbiguousSubmitError, match="connection broke"),
    ):
        make_client(server.url).submit_job(JOB)
    assert len(server.requests) == 1  # the job exists: no second one

    with ScriptedServer([truncated_answer(answer_body), job_answer("j2")]) as server:
        assert make_client(server.url).submit_job(JOB, resubmit_safe=True).job_id == "j2"
    assert len(server.requests) == 2


def test_a_transport_failure_shows_no_sig_even_in_the_traceback(make_client) -> None:
    # requests' own error text holds the URL, whose query string carries sig and json.
    client = make_client(f"http://127.0.0.1:{_unused_port()}")
    job_id = "q" * 24
    with pytest.raises(ApiError) as caught:
        client.get_job(job_id)
    shown = "".join(traceback.format_exception(caught.value))
    assert "connection refused" in shown
    assert "sig=" not in shown and job_id not in shown


def test_with_retry_gives_calls_and_downloads_another_policy(
    make_client, fake_clock, tmp_path
) -> None:
    client = make_client("http://127.0.0.1:9")  # its own policy: 4 attempts
    two = client.with_retry(RetryConfig(attempts=2, initial=0.5, max=0.5))
    assert client.with_retry(client.retry) is client
    assert two.retry.attempts == 2 and client.retry.attempts == 4
    assert two.budget is client.budget  # one rate-limit budget for both
    data = b"a,b\n1,2\n"
    failing = [answer(503, _error(9, "Internal error"))] * 2 + [job_answer(status="pending")]
    with ScriptedServer(failing) as server, pytest.raises(ApiError):
        make_client(server.url).with_retry(two.retry).get_job("j1")
    assert len(server.requests) == 2 and fake_clock.sleeps == [pytest.approx(0.5, abs=0.5)]
    script = [serve_file(data, cut_at=3), serve_file(data, cut_at=3), serve_file(data)]
    with ScriptedServer(script) as server, pytest.raises(ApiError, match=r"cut short|broke"):
        make_client(server.url).with_retry(two.retry).download_export(
            server.url + "/export/x.csv", tmp_path / "x.csv"
        )
    assert len(server.requests) == 2  # the original policy would have made a third
