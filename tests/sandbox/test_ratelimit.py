"""Per-minute rate limits per endpoint and method, as the real API counts them."""

from __future__ import annotations

import time
from pathlib import Path

from sailthru.sailthru_client import SailthruClient

from runner.sandbox.ratelimit import RateLimiter
from tests.sandbox.test_cli import serve


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


def test_a_shorter_window_is_aligned_to_its_multiples_since_the_epoch() -> None:
    now = [1_000_000_012.0]
    limiter = RateLimiter({"POST": 2}, clock=lambda: now[0], window=5)
    assert limiter.hit("job", "POST").reset == 1_000_000_015  # the end of the 5 s window
    limiter.hit("job", "POST")
    assert not limiter.hit("job", "POST").allowed
    now[0] = 1_000_000_015.0
    fresh = limiter.hit("job", "POST")
    assert fresh.allowed and fresh.remaining == 1 and fresh.reset == 1_000_000_020


def test_the_limiter_counts_the_429s_it_gave_and_the_requests_it_let_through() -> None:
    now = [1_000_000_012.0]
    limiter = RateLimiter({"POST": 1}, clock=lambda: now[0], window=5)
    limiter.hit("job", "POST")
    limiter.hit("job", "POST")
    limiter.throttled("job", "GET")
    assert limiter.refused == {"POST": 1, "GET": 1}
    assert limiter.served == {("POST", 1_000_000_010): 1}


def test_sandbox_serve_takes_the_window_as_an_option(tmp_path: Path) -> None:
    with serve("--data", str(tmp_path), "--rate-limit-window", "7") as process:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        client = SailthruClient("sandbox-key", "sandbox-secret", url)
        client.api_get("settings", {})
        reset = client.get_last_rate_limit_info("settings", "GET")["reset"]
        process.terminate()
    assert reset % 7 == 0 and 0 < reset - time.time() <= 7


def test_a_request_of_an_older_window_never_resets_a_newer_windows_count() -> None:
    # Two requests at a window's edge: B read 30.001 (window 1) and counted first, then A,
    # which had read 29.999 (window 0). A is counted in window 1, the newer one, instead of
    # starting window 1's count over (which let limit + 1 through in it).
    times = iter([30.001, 29.999] + [30.1 + index * 0.01 for index in range(10)])
    limiter = RateLimiter({"POST": 3}, clock=lambda: next(times), window=30)
    allowed = [limiter.hit("job", "POST").allowed for _ in range(6)]
    assert allowed == [True, True, True, False, False, False]
    assert limiter.served == {("POST", 30): 3}


def test_the_clock_is_read_inside_the_lock() -> None:
    # Read before it, two threads can take the lock in the other order than their clocks.
    locked: list[bool] = []
    limiter = RateLimiter({"POST": 3}, window=30)
    real_clock = limiter._clock

    def clock() -> float:
        locked.append(limiter._lock.locked())
        return real_clock()

    limiter._clock = clock
    limiter.hit("job", "POST")
    limiter.current("job", "POST")
    assert locked and all(locked)
