"""Request limits per endpoint, method and window, with Sailthru's X-Rate-Limit-* headers.

Windows are fixed and aligned to the clock: by default real clock minutes, each ending at
the top of the next minute, which is what ``X-Rate-Limit-Reset`` says (Unix epoch seconds),
as on the real API. A shorter ``window`` (multiples of it since the epoch) scales a
benchmark or a test down without changing the API's shape.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_LIMITS: dict[str, int] = {"POST": 40, "GET": 300, "DELETE": 40}


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds of the end of the window

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Rate-Limit-Limit", str(self.limit)),
            ("X-Rate-Limit-Remaining", str(self.remaining)),
            ("X-Rate-Limit-Reset", str(self.reset)),
        ]


class RateLimiter:
    """Counts requests per (endpoint, method) in the current window of ``window`` seconds.

    ``limits`` maps a method (``"POST"``) or a method and endpoint (``"POST /user"``) to the
    requests allowed per window; the more specific key wins. ``refused`` counts the 429s
    given per method and ``served`` the requests let through per (method, window start), so
    a benchmark or a test can read what the clients did.
    """

    def __init__(
        self,
        limits: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        window: int = 60,
    ) -> None:
        if window < 1:
            raise ValueError(f"a rate-limit window is at least 1 second, not {window}")
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # key -> (window, count)
        self.refused: Counter[str] = Counter()
        self.served: Counter[tuple[str, int]] = Counter()

    def limit_for(self, endpoint: str, method: str) -> int:
        return self.limits.get(f"{method} /{endpoint}", self.limits.get(method, 300))

    def _window(self) -> int:
        return int(self._clock() // self.window)

    def _reset(self, window: int) -> int:
        return (window + 1) * self.window

    def _now_window(self, known: int | None) -> int:
        """The window a request counts in, read under the lock: never one older than the
        window already counted (``known``), so a request that read the clock just before
        a window's end cannot start the newer window's count over."""
        current = self._window()
        return current if known is None else max(current, known)

    def hit(self, endpoint: str, method: str) -> RateDecision:
        """Count one request; whether it is allowed and the headers to send."""
        limit = self.limit_for(endpoint, method)
        with self._lock:
            known = self._counts.get((endpoint, method))
            current = self._now_window(known[0] if known else None)
            window, count = known or (current, 0)
            if window != current:
                count = 0
            count += 1
            self._counts[(endpoint, method)] = (current, count)
            if count <= limit:
                self.served[(method, current * self.window)] += 1
            else:
                self.refused[method] += 1
        return RateDecision(count <= limit, limit, max(0, limit - count), self._reset(current))

    def current(self, endpoint: str, method: str) -> RateDecision:
        """The headers for an answer given before the request is counted (bad key, 405)."""
        limit = self.limit_for(endpoint, method)
        with self._lock:
            known = self._counts.get((endpoint, method))
            current = self._now_window(known[0] if known else None)
        window, count = known or (current, 0)
        used = count if window == current else 0
        return RateDecision(used < limit, limit, max(0, limit - used), self._reset(current))

    def throttled(self, endpoint: str, method: str) -> RateDecision:
        """The answer of a 429 burst fault: nothing left until the window resets."""
        with self._lock:
            self.refused[method] += 1
        limit = self.limit_for(endpoint, method)
        return RateDecision(False, limit, 0, self._reset(self._window()))
