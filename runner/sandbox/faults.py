"""Faults on demand: what a flaky real API does, reproducibly (one seeded random source).

Two kinds of knobs, both mutable while the sandbox runs:

* rates (``error_rate=0.1``): a fraction of requests/jobs/downloads is affected, drawn from
  ``random.Random(seed)`` so that a failing test replays the same faults;
* one-shot counters (``faults.fail_next(2, status=503, method="POST", path="/job")``): the
  next N matching requests are affected, for tests that need an exact sequence.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

# What a one-shot rule does to the request it matches.
FAIL = "fail"  # answer a 5xx with the API's internal-error body
THROTTLE = "throttle"  # answer 429 / error 43
DROP_BEFORE_BODY = "drop_before_body"  # close the connection without reading the request
DROP_AFTER_BODY = "drop_after_body"  # handle the request, then close instead of answering
DROP_MID_RESPONSE = "drop_mid_response"  # handle it, send half the answer, then close
CUT_DOWNLOAD = "cut_download"  # an export download stops half-way
JOB_ERROR = "job_error"  # the next job ends in status "error"
JOB_STUCK = "job_stuck"  # the next job stays "pending" forever
JOB_INCOMPLETE = "job_incomplete"  # the next job ends in status "incomplete"
# What an injected ``incomplete`` says. The seed names the status, not a message: this one
# says what happened in the API's manner, and that it was injected.
INCOMPLETE_MESSAGE = "The job stopped before it was complete (injected fault)"
SERVER_ERROR_STATUSES = (500, 502, 503)


@dataclass
class _Rule:
    kind: str
    remaining: int
    method: str | None = None
    path: str | None = None
    status: int = 503

    def matches(self, kind: str, method: str | None, path: str | None) -> bool:
        return (
            self.kind == kind
            and self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path == path)
        )


@dataclass
class Faults:
    """Fault settings of one sandbox. Every field may be changed while it runs."""

    seed: int = 0
    latency: float = 0.0  # seconds added before every API answer
    error_rate: float = 0.0  # fraction of API requests answered 500/502/503
    error_statuses: tuple[int, ...] = SERVER_ERROR_STATUSES
    throttle_rate: float = 0.0  # fraction of API requests answered 429 / error 43
    drop_before_body_rate: float = 0.0  # fraction of connections closed before reading
    drop_after_body_rate: float = 0.0  # fraction handled, then closed without an answer
    drop_mid_response_rate: float = 0.0  # fraction handled, answer cut half-way
    cut_download_rate: float = 0.0  # fraction of export downloads cut short
    job_error_rate: float = 0.0  # fraction of jobs that end in "error"
    job_stuck_rate: float = 0.0  # fraction of jobs that never leave "pending"
    job_incomplete_rate: float = 0.0  # fraction of jobs that end in "incomplete"
    early_expiry: float | None = None  # export links expire this many seconds after creation
    _rules: list[_Rule] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    # -- one-shot rules ---------------------------------------------------------------
    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``count`` matching API requests answer ``status`` (500, 502 or 503)."""
        self._add(_Rule(FAIL, count, method, path, status))

    def throttle_next(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """A 429 burst: the next ``count`` matching API requests answer 429 / error 43."""
        self._add(_Rule(THROTTLE, count, method, path))

    def drop_next(
        self,
        count: int = 1,
        *,
        after_body: bool = False,
        mid_response: bool = False,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Close the next ``count`` matching connections without (all of) an answer.

        ``after_body=True`` handles the request first (a POST /job is accepted) and then
        drops the answer: the client cannot know whether its job was submitted.
        ``mid_response=True`` handles it too, then sends the headers and half the body.
        """
        if after_body and mid_response:
            raise ValueError("choose after_body or mid_response, not both")
        kind = DROP_BEFORE_BODY
        if after_body:
            kind = DROP_AFTER_BODY
        elif mid_response:
            kind = DROP_MID_RESPONSE
        self._add(_Rule(kind, count, method, path))

    def cut_next_downloads(self, count: int = 1) -> None:
        """The next ``count`` export downloads stop half-way (Content-Length is not met)."""
        self._add(_Rule(CUT_DOWNLOAD, count))

    def error_next_jobs(self, count: int = 1) -> None:
        """The next ``count`` accepted jobs end in status ``error``."""
        self._add(_Rule(JOB_ERROR, count))

    def incomplete_next_jobs(self, count: int = 1) -> None:
        """The next ``count`` accepted jobs end in status ``incomplete``, with a message."""
        self._add(_Rule(JOB_INCOMPLETE, count))

    def stick_next_jobs(self, count: int = 1) -> None:
        """The next ``count`` accepted jobs stay ``pending`` forever."""
        self._add(_Rule(JOB_STUCK, count))

    def clear(self) -> None:
        """No faults any more: rates to zero, pending one-shot rules dropped."""
        with self._lock:
            self._rules.clear()
            self.latency = self.error_rate = self.throttle_rate = 0.0
            self.drop_before_body_rate = self.drop_after_body_rate = 0.0
            self.drop_mid_response_rate = 0.0
            self.cut_download_rate = self.job_error_rate = self.job_stuck_rate = 0.0
            self.job_incomplete_rate = 0.0
            self.early_expiry = None

    # -- decisions (called by the sandbox) ---------------------------------------------
    def take(self, kind: str, method: str | None = None, path: str | None = None) -> _Rule | None:
        """Consume the first one-shot rule of ``kind`` that matches, or draw by its rate."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(kind, method, path):
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                    return rule
            rate = self._rate(kind)
            if rate > 0 and self._random.random() < rate:
                status = self._random.choice(self.error_statuses) if kind == FAIL else 503
                return _Rule(kind, 0, method, path, status)
        return None

    def _rate(self, kind: str) -> float:
        return {
            FAIL: self.error_rate,
            THROTTLE: self.throttle_rate,
            DROP_BEFORE_BODY: self.drop_before_body_rate,
            DROP_AFTER_BODY: self.drop_after_body_rate,
            DROP_MID_RESPONSE: self.drop_mid_response_rate,
            CUT_DOWNLOAD: self.cut_download_rate,
            JOB_ERROR: self.job_error_rate,
            JOB_STUCK: self.job_stuck_rate,
            JOB_INCOMPLETE: self.job_incomplete_rate,
        }[kind]

    def _add(self, rule: _Rule) -> None:
        if rule.remaining < 1:
            raise ValueError("count must be at least 1")
        if rule.kind == FAIL and rule.status not in SERVER_ERROR_STATUSES:
            raise ValueError(f"status must be one of {SERVER_ERROR_STATUSES}")
        with self._lock:
            self._rules.append(rule)
