"""Per-minute rate limits per endpoint and method, as the real API counts them."""

from __future__ import annotations

import time

from sailthru.sailthru_client import SailthruClient

from runner.sandbox.ratelimit import RateLimiter


def wait_out_minute_end(margin: float = 3.0) -> None:
    """Windows are real clock minutes: start a counting test well inside one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_limit_is_per_method_and_endpoint(sandbox_factory) -> None:
    wait_out_minute_end()
    sandbox = sandbox_factory(rate_limits={"POST": 3, "GET": 5})
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    remaining = []
    for _ in range(3):
        client.api_post("job", {"job": "export_scheduled_sends"})
        remaining.append(client.get_last_rate_limit_info("job", "POST")["remaining"])
    assert remaining == [2, 1, 0]
    over = client.api_post("job", {"job": "export_scheduled_sends"})
    assert over.get_status_code() == 429
    assert over.get_body() == {
        "error": 43,
        "errormsg": "Too many POST requests this minute to /job API",
    }
    assert "Retry-After" not in over.get_response().headers
    assert len(sandbox.submissions()) == 3
    # GET /job and GET /settings have their own counters.
    assert client.api_get("job", {"job_id": "0" * 24}).get_status_code() == 404
    assert client.get_last_rate_limit_info("job", "GET") == {
        "limit": 5,
        "remaining": 4,
        "reset": client.get_last_rate_limit_info("job", "POST")["reset"],
    }
    assert client.api_get("settings", {}).get_status_code() == 200


def test_windows_are_clock_minutes() -> None:
    now = [1_000_000_010.0]
    limiter = RateLimiter({"POST": 2}, clock=lambda: now[0])
    assert limiter.hit("job", "POST").allowed
    assert limiter.hit("job", "POST").remaining == 0
    blocked = limiter.hit("job", "POST")
    assert not blocked.allowed
    assert blocked.reset == 1_000_000_020  # the top of the next minute
    now[0] = 1_000_000_020.0
    fresh = limiter.hit("job", "POST")
    assert fresh.allowed and fresh.remaining == 1
    assert fresh.reset == 1_000_000_080


def test_specific_endpoint_limits_win() -> None:
    limiter = RateLimiter({"POST /user": 300})
    assert limiter.limit_for("user", "POST") == 300
    assert limiter.limit_for("job", "POST") == 40
    assert limiter.limit_for("job", "GET") == 300
