"""One retry model for everything that tries again: the API client, export downloads, action
lists and the plugins' own senders (email, chat).

``RetryConfig(attempts, initial, max)`` is what a manifest's ``retry`` block says (at run
time, in seconds): ``attempts`` tries in all, and before try ``n + 1`` a wait drawn uniformly
between 0 and ``min(initial * 2**(n - 1), max)`` (exponential backoff with full jitter).
``RetryConfig.of(block)`` reads any object with ``attempts``, ``initial`` and ``max`` (the
manifest's ``RetryPolicy``, whose durations are ``timedelta``); ``retrying(...)`` builds the
``tenacity.Retrying`` that carries it out, with the caller's sleep (a fake one in tests, an
interruptible one in the executor) and its own idea of which failures are worth another try.

A leaf helper: it imports nothing from ``runner``, so plugins may use it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tenacity import RetryCallState, Retrying
    from tenacity.wait import wait_base

__all__ = ["RetryBlock", "RetryConfig", "seconds_of"]

DEFAULT_ATTEMPTS = 5
DEFAULT_INITIAL = 2.0  # seconds
DEFAULT_MAX = 120.0  # seconds


class RetryBlock(Protocol):
    """Anything shaped like a ``retry`` block: durations in seconds or as ``timedelta``."""

    @property
    def attempts(self) -> int: ...

    @property
    def initial(self) -> float | timedelta: ...

    @property
    def max(self) -> float | timedelta: ...


def seconds_of(value: float | timedelta) -> float:
    """Seconds, from a number of seconds or a ``timedelta``."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class RetryConfig:
    """How often a failing call is tried (in all) and the backoff: ``initial * 2**n`` up to
    ``max`` seconds, each wait drawn between 0 and that (full jitter)."""

    attempts: int = DEFAULT_ATTEMPTS
    initial: float = DEFAULT_INITIAL
    max: float = DEFAULT_MAX
    jitter: bool = True  # False: exactly ``initial * 2**n`` up to ``max`` (no randomness)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryConfig.attempts must be at least 1")
        if self.initial < 0 or self.max < 0:
            raise ValueError("RetryConfig waits must not be negative")

    @classmethod
    def of(cls, block: RetryBlock) -> RetryConfig:
        """The config a ``retry`` block describes (the manifest's, with defaults applied)."""
        if isinstance(block, RetryConfig):
            return block
        return cls(int(block.attempts), seconds_of(block.initial), seconds_of(block.max))

    @classmethod
    def doubling(cls, retries: int, delay: float) -> RetryConfig:
        """``retries`` after the first try, waiting ``delay`` seconds doubled each time, no
        jitter (the email and chat plugins' ``retries``/``retry_delay`` settings)."""
        return cls(retries + 1, delay, delay * 2 ** max(retries - 1, 0), jitter=False)

    def backoff(self) -> wait_base:
        """Full jitter: a uniform wait between 0 and the exponential cap (``cap``); without
        ``jitter``, the cap itself."""
        # lazy: tenacity loads when something retries, not when a plugin imports this module
        from tenacity.wait import wait_exponential, wait_random_exponential

        if not self.jitter:
            return wait_exponential(multiplier=self.initial, max=self.max)
        return wait_random_exponential(multiplier=self.initial, max=self.max)

    def cap(self, attempt: int) -> float:
        """The longest wait after failed try number ``attempt`` (1-based)."""
        return min(self.initial * 2 ** (attempt - 1), self.max)

    def retrying(
        self,
        *,
        retry_on: Callable[[Exception], bool] = lambda exc: True,
        sleep: Callable[[float], None] = time.sleep,
        before_sleep: Callable[[RetryCallState], None] | None = None,
        wait: Callable[[RetryCallState], float] | None = None,
    ) -> Retrying:
        """A ``tenacity.Retrying`` for this config: stops after ``attempts``, waits by
        ``backoff()`` (or ``wait``), retries an ``Exception`` for which ``retry_on`` is true
        (never a ``KeyboardInterrupt`` or ``SystemExit``), and re-raises the last error."""
        # lazy: as in ``backoff``
        from tenacity import Retrying, retry_if_exception, stop_after_attempt

        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait if wait is not None else self.backoff(),
            retry=retry_if_exception(lambda exc: isinstance(exc, Exception) and retry_on(exc)),
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
