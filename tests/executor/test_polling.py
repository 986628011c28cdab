"""Polling intervals: soon at first, then a tenth of the time spent, clamped and jittered."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from runner.executor.polling import (
    PollTiming,
    ScaledClock,
    budget_spacing,
    first_poll_delay,
    next_poll_delay,
)


def simulate(duration: float, timing: PollTiming) -> tuple[int, float]:
    """(status calls, delay between the job finishing and the poll that sees it)."""
    rng = random.Random(1)
    t = first_poll_delay(timing)
    polls = 1
    while t < duration:
        t += next_poll_delay(t, timing, rng)
        polls += 1
    return polls, t - duration


def test_calls_grow_with_the_log_of_the_duration() -> None:
    timing = PollTiming(initial=1.0, max=600.0)
    calls = {d: simulate(d, timing)[0] for d in (10, 100, 1_000, 10_000)}
    # Each tenfold longer job costs about the same number of extra calls (~ln(10)/ln(1.1)).
    steps = [calls[100] - calls[10], calls[1_000] - calls[100], calls[10_000] - calls[1_000]]
    assert all(15 <= step <= 35 for step in steps), calls
    assert calls[10_000] < 120


@given(st.floats(min_value=1.0, max_value=20_000.0))
def test_a_finished_job_is_noticed_within_a_tenth_plus_a_second(duration: float) -> None:
    _, late = simulate(duration, PollTiming(initial=1.0, max=3_600.0))
    assert late <= duration * 0.1 + 1.0


@given(st.floats(min_value=0.0, max_value=1e6))
def test_interval_stays_within_the_policy(elapsed: float) -> None:
    timing = PollTiming(initial=5.0, max=300.0)
    delay = next_poll_delay(elapsed, timing, random.Random(0))
    assert 2.5 <= delay <= 300.0


def test_first_poll_comes_soon() -> None:
    assert first_poll_delay(PollTiming(initial=5.0, max=300.0)) == 1.0
    assert first_poll_delay(PollTiming(initial=0.2, max=300.0)) == 0.2


@dataclass
class Budget:
    limit: int | None
    remaining: int | None
    reset: float | None


def test_polls_are_spread_when_the_get_budget_runs_low() -> None:
    assert budget_spacing(None, 0.0) == 0.0
    assert budget_spacing(Budget(None, None, None), 0.0) == 0.0
    assert budget_spacing(Budget(300, 200, 1060.0), 1000.0) == 0.0
    # 25 left, 5 kept in reserve, 60 s to the reset: one poll every 3 s.
    assert budget_spacing(Budget(300, 25, 1060.0), 1000.0) == 3.0
    # 6 left: one poll per usable request until the reset.
    assert budget_spacing(Budget(300, 6, 1030.0), 1000.0) == 30.0
    # Exhausted: the client waits for the reset itself; no extra gap on top.
    assert budget_spacing(Budget(300, 0, 1030.0), 1000.0) == 0.0


def test_scaled_clock_runs_faster() -> None:
    clock = ScaledClock(100.0)
    assert clock.real_seconds(50.0) == 0.5
    assert clock.time() >= clock._origin
