"""The rate-limit budget: one per (endpoint, method), shared by every thread of the process.

Sailthru limits each account per endpoint, method and minute, and says where it stands in
every response's ``X-Rate-Limit-Limit``/``-Remaining``/``-Reset`` headers (reset = Unix epoch
seconds, the top of the next minute). When ``remaining`` reaches zero, or a 429 arrives, every
caller of that endpoint waits until the reset time plus a little jitter instead of hammering
the API. Without headers the budget knows nothing and lets calls through, except after a 429,
which blocks the endpoint until the top of the next minute (the API's window).
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateLimitState:
    """What the last response said about one endpoint and method; ``None`` when unknown."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # Unix epoch seconds

    def low(self, fraction: float = 0.1) -> bool:
        """Whether less than ``fraction`` of the limit is left (a hint to slow polling)."""
        if self.limit is None or self.remaining is None or self.limit <= 0:
            return False
        return self.remaining < self.limit * fraction


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def state_from_headers(headers: Mapping[str, str]) -> RateLimitState | None:
    """The state in ``X-Rate-Limit-*`` headers, or ``None`` when the response carries none."""
    limit = _header_number(headers, "X-Rate-Limit-Limit")
    remaining = _header_number(headers, "X-Rate-Limit-Remaining")
    reset = _header_number(headers, "X-Rate-Limit-Reset")
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitState(
        limit=None if limit is None else int(limit),
        remaining=None if remaining is None else int(remaining),
        reset=reset,
    )


class Budget(Protocol):
    """What the client asks of a rate-limit budget: this process's own (``RateLimitBudget``)
    or one shared by every runner of the account (the executor's ``SharedBudget``)."""

    def state(self, endpoint: str, method: str) -> RateLimitState: ...

    def update(
        self, endpoint: str, method: str, headers: Mapping[str, str], now: float
    ) -> None: ...

    def exhausted(
        self, endpoint: str, method: str, headers: Mapping[str, str], now: float
    ) -> None: ...

    def no_answer(self, endpoint: str, method: str) -> None:
        """The request of this thread's last ``acquire`` got no answer (refused, timed out,
        cut, or never sent)."""

    def wait_time(self, endpoint: str, method: str, now: float) -> float: ...

    def acquire(
        self,
        endpoint: str,
        method: str,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_wait: Callable[[float], None] | None = None,
    ) -> float: ...


def budget_key(endpoint: str, method: str) -> tuple[str, str]:
    """How a budget names an endpoint and method: ``("job", "POST")`` for ``/job``, post."""
    return endpoint.strip("/").lower(), method.upper()


class RateLimitBudget:
    """Where each (endpoint, method) stands, and the waiting that keeps callers under the limit.

    ``acquire`` is called before each request and sleeps while the endpoint is exhausted;
    ``update`` records each response's headers; ``exhausted`` records a 429. ``max_wait``
    caps one wait so a server clock far off ours cannot stall a run for long; ``jitter``
    spreads the callers that wake at the same reset.
    """

    def __init__(
        self,
        *,
        jitter: float = 1.0,
        max_wait: float = 120.0,
        window: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self.jitter = jitter
        self.max_wait = max_wait
        self.window = window
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], RateLimitState] = {}
        # Set by a 429 or remaining 0: callers wait until this time (our clock).
        self._blocked_until: dict[tuple[str, str], float] = {}

    _key = staticmethod(budget_key)

    def state(self, endpoint: str, method: str) -> RateLimitState:
        """The last known state of ``endpoint``/``method`` (all ``None`` when never seen)."""
        with self._lock:
            return self._states.get(self._key(endpoint, method), RateLimitState())

    def update(self, endpoint: str, method: str, headers: Mapping[str, str], now: float) -> None:
        """Record a response's headers; remaining 0 blocks the endpoint until its reset."""
        state = state_from_headers(headers)
        if state is None:
            return
        key = self._key(endpoint, method)
        with self._lock:
            state = self._merge(self._states.get(key), state)
            self._states[key] = state
            if state.remaining is not None and state.remaining <= 0:
                self._block(key, self._reset_time(state, now))

    @staticmethod
    def _merge(known: RateLimitState | None, answer: RateLimitState) -> RateLimitState:
        """What to believe after ``answer``, given what we ``known`` (our local count).

        Within one window (same reset) ``remaining`` only goes down: an answer to a request
        sent earlier does not count the requests other threads sent since, so the lower of
        the two wins. An answer about an older window than the one we know is stale.
        """
        if known is None or known.reset is None or answer.reset is None:
            return answer
        if answer.reset < known.reset:
            return known
        same_window = answer.reset == known.reset
        if same_window and known.remaining is not None and answer.remaining is not None:
            remaining = min(known.remaining, answer.remaining)
            return RateLimitState(answer.limit, remaining, answer.reset)
        return answer

    def exhausted(self, endpoint: str, method: str, headers: Mapping[str, str], now: float) -> None:
        """Record a 429: every caller of the endpoint waits until the reset (or the next minute)."""
        key = self._key(endpoint, method)
        state = state_from_headers(headers)
        with self._lock:
            if state is not None:
                self._states[key] = RateLimitState(state.limit, 0, state.reset)
            self._block(key, self._reset_time(state, now))

    def no_answer(self, endpoint: str, method: str) -> None:
        """Nothing to do: this budget has no lease for a new window's first request."""

    def _reset_time(self, state: RateLimitState | None, now: float) -> float:
        if state is not None and state.reset is not None and state.reset > now:
            return min(state.reset, now + self.max_wait)
        # No usable reset: the API's window ends at the top of the next minute.
        return (math.floor(now / self.window) + 1) * self.window

    def _block(self, key: tuple[str, str], until: float) -> None:
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)

    def wait_time(self, endpoint: str, method: str, now: float) -> float:
        """Seconds a caller must wait before calling ``endpoint`` now (0 when it may go)."""
        with self._lock:
            return self._wait_time(self._key(endpoint, method), now)

    def _wait_time(self, key: tuple[str, str], now: float) -> float:
        until = self._blocked_until.get(key)
        if until is None:
            return 0.0
        if until <= now:
            # The window has reset: what we knew about it is stale.
            del self._blocked_until[key]
            state = self._states.get(key)
            if state is not None and state.remaining is not None and state.remaining <= 0:
                self._states[key] = RateLimitState(state.limit, None, None)
            return 0.0
        return min(until - now, self.max_wait)

    def _take(self, key: tuple[str, str], now: float) -> float:
        """Wait time, or 0 after counting one request against what the API said is left.

        Counting locally stops a burst of threads from overshooting the last few requests
        of a window before the responses that would tell them arrive.
        """
        delay = self._wait_time(key, now)
        if delay > 0:
            # Each caller draws its own jitter: the callers woken by one reset are spread out.
            return delay + self._rng.uniform(0, self.jitter)
        state = self._states.get(key)
        if state is None or state.remaining is None or state.reset is None or state.reset <= now:
            return 0.0  # nothing known about the current window
        if state.remaining <= 0:
            # Our own count ran out before the API said so: wait for the reset too.
            return min(state.reset - now, self.max_wait) + self._rng.uniform(0, self.jitter)
        self._states[key] = RateLimitState(state.limit, state.remaining - 1, state.reset)
        return 0.0

    def try_take(self, endpoint: str, method: str, now: float) -> float:
        """0 after counting one request when the endpoint may be called now, else the
        seconds to wait before asking again (``acquire`` without the sleeping)."""
        with self._lock:
            return self._take(self._key(endpoint, method), now)

    def acquire(
        self,
        endpoint: str,
        method: str,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_wait: Callable[[float], None] | None = None,
    ) -> float:
        """Block while ``endpoint``/``method`` is exhausted; return the seconds waited."""
        key = self._key(endpoint, method)
        waited = 0.0
        while True:
            with self._lock:
                delay = self._take(key, clock())
            if delay <= 0:
                return waited
            if on_wait is not None:
                on_wait(delay)
            sleep(delay)
            waited += delay
            count_held_back(delay)


@dataclass
class HeldBack:
    seconds: float = 0.0


_held = threading.local()


def count_held_back(seconds: float) -> None:
    """Add a rate-limit wait of this thread to its ``held_back`` counter, if it has one."""
    if (counter := getattr(_held, "counter", None)) is not None:
        counter.seconds += seconds


@contextlib.contextmanager
def held_back() -> Iterator[HeldBack]:
    """The seconds this thread waits for the rate limit inside the block: the caller's
    backlog, not time the API spent (a job's timeout does not count it)."""
    counter, previous = HeldBack(), getattr(_held, "counter", None)
    _held.counter = counter
    try:
        yield counter
    finally:
        _held.counter = previous


_default_budget = RateLimitBudget()


def default_budget() -> RateLimitBudget:
    """The process-wide budget every client shares unless it is given its own."""
    return _default_budget


def reset_default_budget() -> None:
    """Forget everything the process-wide budget knows (tests: no wait leaks between them)."""
    global _default_budget
    _default_budget = RateLimitBudget()
