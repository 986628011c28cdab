"""When to ask about a job next: intervals that grow with the time already spent.

A job that has run for ``elapsed`` seconds is polled again after about ``elapsed / 10``,
clamped to the job's ``poll.initial`` and ``poll.max`` and jittered, so a finished job is
noticed within about a tenth of its duration (plus ``poll.initial``) while the number of
status calls grows with the logarithm of the duration. The first poll comes soon after the
submission. When the GET budget of the API runs low, polls are spread over what is left of
the rate-limit window.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Protocol

GROWTH = 0.1  # the next interval as a fraction of the time already spent
JITTER = 0.1  # up to 10 % shorter, so jobs submitted together do not poll together
FIRST_POLL = 1.0  # seconds after submission, at most (never later than poll.initial)
LOW_BUDGET = 0.25  # below this fraction of the GET limit, polls are paced
BUDGET_RESERVE = 5  # requests left alone for submissions' own GETs and other callers


@dataclass(frozen=True)
class PollTiming:
    initial: float  # seconds
    max: float  # seconds


def first_poll_delay(timing: PollTiming) -> float:
    return min(FIRST_POLL, timing.initial)


def next_poll_delay(elapsed: float, timing: PollTiming, rng: random.Random | None = None) -> float:
    """Seconds until the next poll of a job that has run for ``elapsed`` seconds."""
    base = min(max(elapsed * GROWTH, timing.initial), max(timing.max, timing.initial))
    # Jitter only shortens the interval: a finished job is still noticed within a tenth of
    # its duration (plus poll.initial), and never later than poll.max.
    jitter = (rng or random).uniform(-JITTER, 0.0)
    return max(timing.initial * 0.5, min(base * (1 + jitter), timing.max))


class Budget(Protocol):
    limit: int | None
    remaining: int | None
    reset: float | None


def budget_spacing(budget: Budget | None, wall_now: float) -> float:
    """The minimum gap between two polls (seconds, process-wide) that the budget allows.

    0 while the budget is healthy or unknown. When fewer than ``LOW_BUDGET`` of the
    requests are left, the rest of the window is shared out so the loop never runs into
    429s (the client would wait anyway, but blocked workers delay submissions too).
    """
    if budget is None or budget.limit is None or budget.remaining is None or not budget.limit:
        return 0.0
    if budget.remaining > budget.limit * LOW_BUDGET:
        return 0.0
    if budget.remaining <= 0:
        return 0.0  # exhausted: the client itself waits for the reset; pacing adds nothing
    window_left = max((budget.reset or wall_now + 60.0) - wall_now, 1.0)
    usable = max(budget.remaining - BUDGET_RESERVE, 1)
    return window_left / usable


def rate_limited(error: BaseException) -> bool:
    """Whether a failed status check was refused by the rate limit (HTTP 429, error 43):
    no answer about the job, only about the runner's pace."""
    return getattr(error, "http_status", None) == 429 or getattr(error, "code", None) == 43


class Clock(Protocol):
    """Time as the scheduler sees it; a scaled clock lets benches model hours in seconds."""

    def time(self) -> float:
        """Seconds since the epoch, in the clock's time."""

    def real_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of the clock's time take in real time."""


class RealClock:
    def time(self) -> float:
        return time.time()

    def real_seconds(self, seconds: float) -> float:
        return seconds


class ScaledClock:
    """A clock running ``factor`` times faster than real time (benchmarks with a fast sandbox)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._origin = time.time()

    def time(self) -> float:
        return self._origin + (time.time() - self._origin) * self.factor

    def real_seconds(self, seconds: float) -> float:
        return seconds / self.factor
