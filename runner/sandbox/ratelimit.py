"""Per-minute request limits per endpoint and method, with Sailthru's X-Rate-Limit-* headers.

Windows are real clock minutes: a window ends at the top of the next minute, which is what
``X-Rate-Limit-Reset`` says (Unix epoch seconds), as on the real API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_LIMITS: dict[str, int] = {"POST": 40, "GET": 300, "DELETE": 40}


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds of the top of the next minute

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Rate-Limit-Limit", str(self.limit)),
            ("X-Rate-Limit-Remaining", str(self.remaining)),
            ("X-Rate-Limit-Reset", str(self.reset)),
        ]


class RateLimiter:
    """Counts requests per (endpoint, method) in the current clock minute.

    ``limits`` maps a method (``"POST"``) or a method and endpoint (``"POST /user"``) to the
    requests allowed per minute; the more specific key wins.
    """

    def __init__(
        self, limits: Mapping[str, int] | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}  # key -> (minute, count)

    def limit_for(self, endpoint: str, method: str) -> int:
        return self.limits.get(f"{method} /{endpoint}", self.limits.get(method, 300))

    def hit(self, endpoint: str, method: str) -> RateDecision:
        """Count one request; whether it is allowed and the headers to send."""
        limit = self.limit_for(endpoint, method)
        minute = int(self._clock() // 60)
        with self._lock:
            window, count = self._counts.get((endpoint, method), (minute, 0))
            if window != minute:
                count = 0
            count += 1
            self._counts[(endpoint, method)] = (minute, count)
        return RateDecision(count <= limit, limit, max(0, limit - count), (minute + 1) * 60)

    def current(self, endpoint: str, method: str) -> RateDecision:
        """The headers for an answer given before the request is counted (bad key, 405)."""
        limit = self.limit_for(endpoint, method)
        minute = int(self._clock() // 60)
        with self._lock:
            window, count = self._counts.get((endpoint, method), (minute, 0))
        used = count if window == minute else 0
        return RateDecision(used < limit, limit, max(0, limit - used), (minute + 1) * 60)

    def throttled(self, endpoint: str, method: str) -> RateDecision:
        """The answer of a 429 burst fault: nothing left until the window resets."""
        minute = int(self._clock() // 60)
        return RateDecision(False, self.limit_for(endpoint, method), 0, (minute + 1) * 60)
