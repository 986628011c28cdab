"""The rate-limit budget: per endpoint and method, shared by threads, working without headers."""

from __future__ import annotations

import random
import threading
import time

import pytest
from scripted_servers import FakeClock

from runner.sailthru.ratelimit import (
    RateLimitBudget,
    RateLimitState,
    default_budget,
    reset_default_budget,
    state_from_headers,
)


def _headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
    }


def test_headers_are_parsed_and_absent_headers_mean_unknown() -> None:
    assert state_from_headers(_headers(40, 3, 1_700_000_060)) == RateLimitState(
        40, 3, 1_700_000_060
    )
    assert state_from_headers({}) is None
    assert state_from_headers({"X-Rate-Limit-Remaining": "junk"}) is None


def test_without_headers_calls_go_through() -> None:
    clock = FakeClock()
    budget = RateLimitBudget(jitter=0.0)
    budget.update("job", "GET", {}, clock())
    for _ in range(100):
        assert budget.acquire("job", "GET", clock=clock, sleep=clock.sleep) == 0.0
    assert clock.sleeps == []
    assert budget.state("job", "GET") == RateLimitState()


def test_remaining_is_counted_down_locally_until_the_reset() -> None:
    clock = FakeClock(1_700_000_010.0)
    budget = RateLimitBudget(jitter=0.0)
    budget.update("job", "POST", _headers(40, 2, 1_700_000_040), clock())
    budget.acquire("job", "POST", clock=clock, sleep=clock.sleep)
    budget.acquire("job", "POST", clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
    assert budget.state("job", "POST").remaining == 0
    waited = budget.acquire("job", "POST", clock=clock, sleep=clock.sleep)
    assert waited == pytest.approx(30.0) and clock.sleeps == [pytest.approx(30.0)]
    # Other endpoints and methods are unaffected.
    assert budget.acquire("job", "GET", clock=clock, sleep=clock.sleep) == 0.0


def test_answers_never_raise_the_count_within_a_window() -> None:
    # Answers to requests sent before other threads' ones report more than is left.
    clock = FakeClock(1_700_000_010.0)
    budget = RateLimitBudget(jitter=0.0)
    budget.update("job", "POST", _headers(40, 10, 1_700_000_040), clock())
    for _ in range(6):
        budget.acquire("job", "POST", clock=clock, sleep=clock.sleep)
    budget.update("job", "POST", _headers(40, 9, 1_700_000_040), clock())  # a late answer
    assert budget.state("job", "POST").remaining == 4
    budget.update("job", "POST", _headers(40, 30, 1_699_999_980), clock())  # an older window
    assert budget.state("job", "POST") == RateLimitState(40, 4, 1_700_000_040)
    budget.update("job", "POST", _headers(40, 39, 1_700_000_100), clock())  # the next window
    assert budget.state("job", "POST") == RateLimitState(40, 39, 1_700_000_100)


def test_jitter_spreads_the_wake_ups() -> None:
    clock = FakeClock(1_700_000_010.0)
    budget = RateLimitBudget(jitter=2.0)
    budget.exhausted("job", "GET", _headers(300, 0, 1_700_000_020), clock())
    waited = budget.acquire("job", "GET", clock=clock, sleep=clock.sleep)
    assert 10.0 <= waited <= 12.0


def test_each_waiting_caller_draws_its_own_jitter() -> None:
    clock = FakeClock(1_700_000_010.0)
    budget = RateLimitBudget(jitter=5.0, rng=random.Random(7))
    budget.exhausted("job", "POST", _headers(40, 0, clock.now + 10), clock())
    everyone_waits = threading.Barrier(5, timeout=5)

    def sleep(seconds: float) -> None:
        everyone_waits.wait()  # every caller has drawn its wait before time moves on
        clock.sleep(seconds)

    waits: list[float] = []

    def caller() -> None:
        waits.append(budget.acquire("job", "POST", clock=clock, sleep=sleep))

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(waits) == 5 and all(10.0 <= wait <= 15.0 for wait in waits)
    assert len(set(waits)) == 5  # spread out, not one herd at the same instant


def test_a_reset_far_in_the_future_is_capped() -> None:
    clock = FakeClock(1_700_000_010.0)
    budget = RateLimitBudget(jitter=0.0, max_wait=90.0)
    budget.exhausted("job", "GET", _headers(300, 0, 1_700_099_999), clock())
    assert budget.acquire("job", "GET", clock=clock, sleep=clock.sleep) == pytest.approx(90.0)


def test_a_429_blocks_every_thread_until_the_reset() -> None:
    window = 0.4  # a short window so the test is quick; the API's is a minute
    budget = RateLimitBudget(jitter=0.05, window=window)
    start = time.time()
    budget.exhausted("job", "GET", {}, start)  # a 429 without headers
    woke: list[float] = []
    lock = threading.Lock()

    def caller() -> None:
        budget.acquire("job", "GET", clock=time.time, sleep=time.sleep)
        with lock:
            woke.append(time.time())

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert len(woke) == 6
    boundary = (int(start / window) + 1) * window
    assert all(t >= boundary - 0.001 for t in woke)
    # Unblocked after the window: the next call goes at once.
    assert budget.acquire("job", "GET", clock=time.time, sleep=time.sleep) == 0.0


def test_low_budget_hint() -> None:
    assert RateLimitState(300, 10, 0).low()
    assert not RateLimitState(300, 200, 0).low()
    assert not RateLimitState().low()


def test_clients_share_the_process_budget_by_default() -> None:
    from runner.sailthru.client import SailthruClient

    with (
        SailthruClient("k1", "secret-one", "http://127.0.0.1:9") as one,
        SailthruClient("k2", "secret-two", "http://127.0.0.1:9") as two,
    ):
        assert one.budget is two.budget is default_budget()


def test_reset_default_budget_forgets_blocks() -> None:
    clock = FakeClock(1_700_000_010.0)
    default_budget().exhausted("job", "GET", {}, clock())
    assert default_budget().wait_time("job", "GET", clock()) > 0
    reset_default_budget()
    assert default_budget().wait_time("job", "GET", clock()) == 0.0


def test_threads_of_one_client_share_the_countdown_and_never_overshoot(make_client) -> None:
    """The server allows 5 GETs per 2 s window and refuses (429) beyond. After one call,
    8 threads call at once: 4 go, the other 4 wait for the reset instead of being refused."""
    from concurrent.futures import ThreadPoolExecutor

    from scripted_servers import ScriptedServer

    limit, window = 5, 2.0  # a short window on the real clock: the API's is a minute
    counts: dict[int, int] = {}
    refused: list[int] = []
    lock = threading.Lock()

    def limited(handler, received) -> None:
        with lock:
            current = int(time.time() // window)
            counts[current] = counts.get(current, 0) + 1
            used = counts[current]
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, limit - used)),
            "X-Rate-Limit-Reset": str((current + 1) * window),
        }
        if used > limit:
            refused.append(current)
            handler.send_json(429, {"error": 43, "errormsg": "Too many requests"}, headers)
        else:
            handler.send_json(200, {"job_id": "j", "status": "pending"}, headers)

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    # Start just after a window begins, so the burst falls in the window the first call saw.
    time.sleep(window - time.time() % window + 0.05)
    with ScriptedServer([limited]) as server:
        client = make_client(server.url, clock=time.time, sleep=sleep)
        client.get_job("j")
        assert client.budget_for("job", "GET").remaining == limit - 1
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda _: client.get_job("j"), range(8)))
    assert len(jobs) == 8 and refused == []
    assert len(server.requests) == 9 and sorted(counts.values()) == [4, 5]
    assert len(waits) == 4 and all(0 < wait <= window for wait in waits)
