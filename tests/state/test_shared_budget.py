"""One API budget per account, shared by every runner through PostgreSQL (SharedBudget).

Each "runner" here is its own PostgresState (its own connection pool) on one database,
as two processes on two machines would be; the end-to-end test runs two `sailjobs run`
processes against one sandbox and counts the 429s the sandbox gave.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.executor.state.budget import PROBE_POLL, SharedBudget, account_of
from runner.executor.state.postgres import PostgresState
from runner.retries import RetryConfig
from runner.sailthru.client import ApiError, SailthruClient

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
API = "http://127.0.0.1:9/"
NOW = 1_000_000_000.0


class Waited(Exception):
    """The caller was told to wait (raised by the test's sleep instead of sleeping)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


def refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
    }


@pytest.fixture
def runners(postgres_url: str, tmp_path: Path) -> Iterator[Callable[[], SharedBudget]]:
    """Makes the budget of another runner of one account (each its own state and pool)."""
    states: list[PostgresState] = []

    def make() -> SharedBudget:
        state = PostgresState(postgres_url, scratch_dir=tmp_path / f"s{len(states)}")
        states.append(state)
        return state.shared_budget(API, "key-1")

    yield make
    for state in states:
        state.close()


def went_at_once(budget: SharedBudget, now: float = NOW) -> bool:
    """Whether ``budget`` let one caller go without waiting at ``now``."""
    try:
        budget.acquire("job", "POST", clock=lambda: now, sleep=refuse_to_wait)
    except Waited:
        return False
    return True


def test_the_account_is_a_hash_of_the_url_and_key_never_the_key() -> None:
    account = account_of(API, "key-1")
    assert "key-1" not in account
    assert account == account_of(API.rstrip("/"), "key-1")
    assert account != account_of(API, "key-2")
    assert account != account_of("http://127.0.0.1:10", "key-1")


def test_two_runners_never_hand_out_more_than_the_limit_of_a_window(runners) -> None:
    first, second = runners(), runners()
    first.update("job", "POST", headers(40, 9, NOW + 30), NOW)  # the probe's answer
    went: list[bool] = []
    lock = threading.Lock()

    def caller(budget: SharedBudget) -> None:
        result = went_at_once(budget)
        with lock:
            went.append(result)

    threads = [threading.Thread(target=caller, args=(b,)) for b in (first, second) * 10]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert went.count(True) == 9  # what the API said is left, not 9 per runner
    assert second.state("job", "POST").remaining == 0


def test_no_token_in_the_last_moments_of_a_window(runners) -> None:
    budget = runners()
    budget.update("job", "POST", headers(40, 30, NOW + 30), NOW)
    assert not went_at_once(budget, NOW + 29.8)  # sent now, it could count in the next one
    assert went_at_once(budget, NOW + 29.0)


def test_the_lower_remaining_wins_within_a_window_and_a_newer_window_replaces(runners) -> None:
    first, second = runners(), runners()
    first.update("job", "GET", headers(300, 250, NOW + 30), NOW)
    second.update("job", "GET", headers(300, 120, NOW + 30), NOW)  # others used the account
    first.update("job", "GET", headers(300, 200, NOW + 30), NOW)  # an answer sent earlier
    assert first.state("job", "GET").remaining == 120
    second.update("job", "GET", headers(300, 299, NOW + 90), NOW + 61)
    assert first.state("job", "GET").remaining == 299
    assert first.state("job", "GET").reset == NOW + 90
    first.update("job", "GET", headers(300, 5, NOW + 30), NOW + 61)  # a late, stale answer
    assert second.state("job", "GET").remaining == 299


def test_a_429_blocks_every_runner_until_the_reset(runners) -> None:
    first, second = runners(), runners()
    first.update("job", "POST", headers(40, 30, NOW + 30), NOW)
    first.exhausted("job", "POST", headers(40, 0, NOW + 30), NOW + 5)
    assert second.wait_time("job", "POST", NOW + 5) == pytest.approx(25)
    with pytest.raises(Waited) as waited:
        second.acquire("job", "POST", clock=lambda: NOW + 5, sleep=refuse_to_wait)
    assert 25 <= waited.value.seconds <= 25 + second.jitter


def test_one_probe_opens_a_new_window_the_others_wait_for_its_answer(runners) -> None:
    budgets = [runners(), runners()]
    budgets[0].update("job", "POST", headers(40, 0, NOW), NOW - 10)  # the last window, spent
    waits: list[float] = []
    went: list[bool] = []
    lock = threading.Lock()

    def caller(budget: SharedBudget) -> None:
        try:
            budget.acquire("job", "POST", clock=lambda: NOW + 0.5, sleep=refuse_to_wait)
            result = True
        except Waited as exc:
            result = False
            with lock:
                waits.append(exc.seconds)
        with lock:
            went.append(result)

    threads = [threading.Thread(target=caller, args=(b,)) for b in budgets * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert went.count(True) == 1
    assert all(wait <= 2 * PROBE_POLL for wait in waits)  # they look again soon
    # The probe's answer opens the window for everyone; its lease is gone.
    budgets[0].update("job", "POST", headers(40, 39, NOW + 60), NOW + 0.6)
    assert sum(went_at_once(budgets[1], NOW + 0.7) for _ in range(50)) == 39


def test_a_window_opened_since_the_refusal_is_asked_again_at_once(runners) -> None:
    # A caller refused while the probe was out reads the row after the probe's answer:
    # it asks again at once, instead of sleeping through the whole new window.
    budget = runners()
    assert budget.delay_after_refusal((150, 149, NOW + 30, None), NOW) == 0.0
    assert budget.delay_after_refusal((150, 0, NOW + 30, None), NOW) >= 30
    assert budget.delay_after_refusal((150, 5, NOW + 30, None), NOW + 29.9) >= 0.1  # its end
    assert budget.delay_after_refusal((150, 0, NOW + 30, NOW + 1), NOW) <= 2 * PROBE_POLL


def test_a_lost_probe_is_replaced_once_its_lease_runs_out(runners) -> None:
    first, second = runners(), runners()
    assert went_at_once(first)  # the probe, whose answer never comes
    assert not went_at_once(second, NOW + 0.5)
    assert went_at_once(second, NOW + 5)


def test_an_answer_without_the_headers_ends_the_probe_at_once(runners) -> None:
    first, second = runners(), runners()
    assert went_at_once(first)
    first.update("job", "POST", {}, NOW + 0.1)  # the API (or a proxy) sent no headers
    assert went_at_once(second, NOW + 0.2)  # the next probe, without waiting for the lease


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_probe_that_gets_no_answer_ends_its_lease_at_once(runners) -> None:
    # With the API down, the probe's lease used to stay for its 2 s: every runner of the
    # account was held to one try per 2 s. Its try ended without an answer: the next
    # caller may probe at once.
    first, second = runners(), runners()
    client = SailthruClient(
        "key-1",
        "secret-1",
        f"http://127.0.0.1:{closed_port()}",
        budget=first,
        retry=RetryConfig(attempts=1),
    )
    with client, pytest.raises(ApiError, match=r"refused"):
        client.call("POST", "job", {"job": "export_scheduled_sends"})
    assert went_at_once(second, time.time())


def test_only_the_probe_itself_ends_its_lease(runners) -> None:
    first, second = runners(), runners()
    assert went_at_once(first)  # the probe
    second.no_answer("job", "POST")  # another caller's failed try: not the probe's
    second.update("job", "POST", {}, NOW + 0.1)
    assert not went_at_once(second, NOW + 0.2)
    first.no_answer("job", "POST")
    assert went_at_once(second, NOW + 0.3)


def test_a_late_answer_about_the_old_window_leaves_the_probe_alone(runners) -> None:
    first, second = runners(), runners()
    first.update("job", "POST", headers(4, 0, NOW), NOW - 10)  # the old window, spent
    assert went_at_once(first, NOW + 0.05)  # the probe of the new window
    # The answer to a request sent in the old window's last moments arrives now.
    second.update("job", "POST", headers(4, 0, NOW), NOW + 0.1)
    assert not went_at_once(second, NOW + 0.15)  # no second probe: the first is still out


def test_a_second_probe_after_a_slow_one_is_counted_in_the_window(runners) -> None:
    # The probe's answer took longer than its lease, so a second probe went: the window
    # they open hands out its limit minus both, whichever answer comes first.
    first, second = runners(), runners()
    first.update("job", "POST", headers(4, 0, NOW), NOW - 10)
    assert went_at_once(first, NOW + 0.05)
    assert went_at_once(second, NOW + 2.1)  # the lease ran out: the second probe
    first.update("job", "POST", headers(4, 3, NOW + 30), NOW + 2.15)  # counted first
    sent = 2 + sum(went_at_once(first, NOW + 2.2) for _ in range(10))
    second.update("job", "POST", headers(4, 2, NOW + 30), NOW + 2.25)
    sent += sum(went_at_once(second, NOW + 2.3) for _ in range(10))
    assert sent == 4  # the limit, not one more


def test_without_the_database_each_call_uses_the_runners_own_budget(
    runners, postgres_cluster
) -> None:
    budget = runners()
    budget.update("job", "POST", headers(40, 2, NOW + 30), NOW)
    postgres_cluster.stop()
    try:
        assert went_at_once(budget) and went_at_once(budget)
        assert not went_at_once(budget)  # its own count of what the last answer left
    finally:
        postgres_cluster.start()


# -- end to end: two `sailjobs run` processes, one sandbox ----------------------------------

JOBS = 8
LIMITS = {"POST": 4, "GET": 60}
WINDOW = 3  # seconds: 16 submissions take about 4 windows


def write_manifest(folder: Path, name: str) -> Path:
    lines = [
        "version: 1",
        f"name: {name}",
        "defaults:",
        "  poll: {initial: 0.2s, max: 1s}",
        "  retry: {attempts: 20, initial: 0.1s, max: 1s}",
        "jobs:",
    ]
    for index in range(JOBS):
        lines += [f"  j{index}:", "    job: export_scheduled_sends"]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_two(sandbox, tmp_path: Path, state_for: Callable[[str], str]) -> list[int]:
    env = {
        **os.environ,
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    processes = []
    for name in ("a", "b"):
        manifest = write_manifest(tmp_path, name)
        processes.append(
            subprocess.Popen(
                [SAILJOBS, "run", str(manifest), "--state", state_for(name), "--concurrency", "8"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return [process.wait(timeout=120) for process in processes]


@pytest.mark.timeout(180)
def test_two_runs_sharing_the_database_get_no_429_where_their_own_budgets_do(
    sandbox_factory, postgres_url: str, tmp_path: Path
) -> None:
    shared = sandbox_factory(seed=None, rate_limits=LIMITS, rate_window=WINDOW)
    codes = run_two(shared, tmp_path / "pg", lambda name: postgres_url)
    assert codes == [0, 0]
    assert shared.limiter.refused["POST"] == 0 and shared.limiter.refused["GET"] == 0
    assert len(shared.submissions()) == 2 * JOBS

    # The same two runs, each with its own folder and so its own budget: they overshoot.
    apart = sandbox_factory(seed=None, rate_limits=LIMITS, rate_window=WINDOW)
    run_two(apart, tmp_path / "sqlite", lambda name: str(tmp_path / "sqlite" / f"state-{name}"))
    assert apart.limiter.refused["POST"] > 0
