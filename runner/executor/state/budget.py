"""One API budget per account, shared by every runner through the state database.

Sailthru limits an account per endpoint, method and fixed window (a minute), whatever
machine the requests come from. Each runner used to count its own budget, so a few
pipelines at once overshot it together. Here each (account, endpoint, method) is one row
of ``api_budget``, a token bucket the runners take from:

- a token is one atomic ``UPDATE … remaining = remaining - 1 … WHERE remaining > 0 AND the
  window is open`` (none in the last ``margin`` seconds of a window: a request sent then
  could reach the API in the next window and be counted there);
- a window nobody knows yet (the first request, or the one after a reset) is opened by one
  probe: the caller that takes the ``probe_until`` lease goes alone, the others wait for its
  answer, whose headers say the new window's limit, remaining and reset (no guessing of
  the window's length). Only an answer about a newer window ends the lease for all; the
  probe itself ends it (``probe_token``) when its try brought no answer (``no_answer``:
  the API down, a timeout) or one about the old window. If the answer is slower than the
  lease, one more probe goes; ``probes`` counts them, and the answer that opens the window
  takes the others from its remaining, so the window never hands out more than its limit;
- every answer's headers keep the row in step: in the same window the lower remaining wins
  (requests from elsewhere), a newer window replaces the row, a 429 empties it until reset;
- callers that wait for a reset all wake within ``JITTER`` of it and race for the new
  window's tokens, each thread one token per request, so each waiting thread gets about
  the same share whichever runner it belongs to (bench/shared_budget.py measures it).

The account is a hash of the API URL and key (never the key itself). When the database
cannot be reached, each call falls back to this process's own budget (``local``), which
sees every answer too: the run goes on as before sharing existed, and the state's own
writes say whether the database is gone for good.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from runner.sailthru.ratelimit import (
    RateLimitBudget,
    RateLimitState,
    budget_key,
    count_held_back,
    state_from_headers,
)

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger("runner.budget")

MARGIN = 0.3  # seconds before a reset when no more tokens are handed out
PROBE_LEASE = 2.0  # seconds one caller has to bring a new window's headers
PROBE_POLL = 0.02  # how often the callers waiting for the probe look again
# Waiters wake at the reset spread over this long: short, so that every waiting thread is
# awake before a window's tokens run out (a thread that wakes first keeps taking tokens
# for as long as it finds some); the tokens, not the spread, keep the API under its limit.
JITTER = 0.1
DB_TIMEOUT = 2.0  # seconds to get a connection before this call falls back


def account_of(api_url: str, api_key: str) -> str:
    """The budget's name for an account: a hash of the API URL and key."""
    digest = hashlib.sha256(f"{api_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return digest[:32]


_TAKE = """
UPDATE api_budget SET remaining = remaining - 1
WHERE account = %s AND endpoint = %s AND method = %s
  AND remaining > 0 AND reset - %s > %s
RETURNING remaining
"""

# The lease is taken only when the window is unknown or over and no other probe is out.
_PROBE = """
INSERT INTO api_budget AS b (account, endpoint, method, probe_until, probe_token, probes)
VALUES (%(account)s, %(endpoint)s, %(method)s, %(until)s, %(token)s, 1)
ON CONFLICT (account, endpoint, method) DO UPDATE SET
  probe_until = excluded.probe_until, probe_token = excluded.probe_token, probes = b.probes + 1
WHERE (b.reset IS NULL OR b.remaining IS NULL OR b.reset <= %(now)s)
  AND (b.probe_until IS NULL OR b.probe_until <= %(now)s)
RETURNING 1
"""

# The probe's try ended without opening the window (no answer, or one about the old
# window): its lease ends, and it no longer counts in the window to come. Only the holder's
# token matches: a lease a later probe took is that probe's.
_END_PROBE = """
UPDATE api_budget SET probe_until = NULL, probe_token = NULL, probes = GREATEST(probes - 1, 0)
WHERE account = %s AND endpoint = %s AND method = %s AND probe_token = %s
"""

_READ = """
SELECT lim, remaining, reset, probe_until FROM api_budget
WHERE account = %s AND endpoint = %s AND method = %s
"""

# An answer: a newer window replaces the row, less the probes sent into it but one (the
# answer counts at most its own request; the others' answers may still be on their way),
# and ends the lease; in the same window the lower remaining wins; an answer about an older
# window is stale and changes nothing.
_UPDATE = """
INSERT INTO api_budget AS b (account, endpoint, method, lim, remaining, reset)
VALUES (%(account)s, %(endpoint)s, %(method)s, %(limit)s, %(remaining)s, %(reset)s)
ON CONFLICT (account, endpoint, method) DO UPDATE SET
  lim = COALESCE(excluded.lim, b.lim),
  remaining = CASE
    WHEN b.reset = excluded.reset THEN LEAST(b.remaining, excluded.remaining)
    WHEN excluded.remaining IS NULL THEN NULL
    ELSE GREATEST(excluded.remaining - GREATEST(b.probes - 1, 0), 0) END,
  probes = CASE WHEN b.reset = excluded.reset THEN b.probes ELSE 0 END,
  probe_until = CASE WHEN b.reset = excluded.reset THEN b.probe_until END,
  probe_token = CASE WHEN b.reset = excluded.reset THEN b.probe_token END,
  reset = excluded.reset
WHERE b.reset IS NULL OR b.reset <= excluded.reset
"""


# lim, remaining, reset, probe_until
_Row = tuple[int | None, int | None, float | None, float | None]


class SharedBudget:
    """The rate-limit budget of one account, shared through ``api_budget`` (see the module).

    Same interface as the per-process ``RateLimitBudget`` (the client's ``Budget``).
    """

    def __init__(
        self,
        pool: ConnectionPool,
        api_url: str,
        api_key: str,
        *,
        jitter: float = JITTER,
        max_wait: float = 120.0,
        margin: float = MARGIN,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.account = account_of(api_url, api_key)
        self.jitter = jitter
        self.max_wait = max_wait
        self.margin = margin
        self._rng = rng or random.Random()
        # This process's own count: every answer goes into it too, and a call that cannot
        # reach the database uses it instead.
        self.local = RateLimitBudget(jitter=jitter, max_wait=max_wait)
        self._warned = threading.Event()
        # The lease tokens of the probes this thread sent, by budget key: a thread makes
        # one request at a time, from ``acquire`` to its answer (or ``no_answer``).
        self._probing = threading.local()

    # the database, or the fallback ------------------------------------------------------

    def _db(
        self, sql: str, params: tuple[object, ...] | Mapping[str, object]
    ) -> list[tuple[object, ...]] | None:
        """The rows of one statement, or None when the database is out of reach."""
        try:
            with self.pool.connection(timeout=DB_TIMEOUT) as conn:
                cursor = conn.execute(sql, params)
                return cursor.fetchall() if cursor.description is not None else []
        except Exception as exc:  # the database gone, the pool closed: this call is local
            if not self._warned.is_set():
                self._warned.set()
                log.warning(
                    "the shared API budget is out of reach (%s); this runner counts its own "
                    "requests until it is back",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            return None

    def _row(self, key: tuple[str, str]) -> _Row | bool | None:
        """The bucket's row, None when there is none, False when the database is away."""
        rows = self._db(_READ, (self.account, *key))
        if rows is None:
            return False
        return cast(_Row, rows[0]) if rows else None

    # the Budget interface ---------------------------------------------------------------

    def state(self, endpoint: str, method: str) -> RateLimitState:
        row = self._row(budget_key(endpoint, method))
        if row is False:
            return self.local.state(endpoint, method)
        if row is None:
            return RateLimitState()
        limit, remaining, reset, _ = cast(_Row, row)
        return RateLimitState(limit, remaining, reset)

    def update(self, endpoint: str, method: str, headers: Mapping[str, str], now: float) -> None:
        self.local.update(endpoint, method, headers, now)
        state = state_from_headers(headers)
        key = budget_key(endpoint, method)
        if state is not None and state.reset is not None:
            self._write(key, state)  # a newer window ends every lease
        # Still out, this caller's lease ends: an answer without the headers (an API or a
        # proxy without them) or about the old window; the next caller probes at once.
        self._end_probe(key)

    def no_answer(self, endpoint: str, method: str) -> None:
        """This thread's request got no answer (refused, timed out, cut): if it was a new
        window's probe, the next caller probes at once instead of waiting out its lease."""
        self._end_probe(budget_key(endpoint, method))

    def _end_probe(self, key: tuple[str, str]) -> None:
        tokens: dict[tuple[str, str], str] = getattr(self._probing, "tokens", {})
        if (token := tokens.pop(key, None)) is not None:
            self._db(_END_PROBE, (self.account, *key, token))

    def exhausted(self, endpoint: str, method: str, headers: Mapping[str, str], now: float) -> None:
        """A 429: nothing left for anyone until the window's reset."""
        self.local.exhausted(endpoint, method, headers, now)
        state = state_from_headers(headers)
        reset = state.reset if state is not None else None
        if reset is None or reset <= now:
            # No usable reset: the window the local budget now waits for.
            reset = now + self.local.wait_time(endpoint, method, now)
        limit = state.limit if state is not None else None
        self._write(budget_key(endpoint, method), RateLimitState(limit, 0, reset))

    def _write(self, key: tuple[str, str], state: RateLimitState) -> None:
        self._db(
            _UPDATE,
            {
                "account": self.account,
                "endpoint": key[0],
                "method": key[1],
                "limit": state.limit,
                "remaining": state.remaining,
                "reset": state.reset,
            },
        )

    def wait_time(self, endpoint: str, method: str, now: float) -> float:
        row = self._row(budget_key(endpoint, method))
        if row is False:
            return self.local.wait_time(endpoint, method, now)
        if row is None:
            return 0.0
        _, remaining, reset, _ = cast(_Row, row)
        if remaining is not None and remaining <= 0 and reset is not None and reset > now:
            return min(reset - now, self.max_wait)
        return 0.0

    def acquire(
        self,
        endpoint: str,
        method: str,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        on_wait: Callable[[float], None] | None = None,
    ) -> float:
        """Block until this caller holds one of the account's tokens (or is the probe of a
        new window); return the seconds waited."""
        key = budget_key(endpoint, method)
        waited = 0.0
        while True:
            delay = self._take(key, endpoint, method, clock)
            if delay is None:
                return waited
            if delay <= 0:
                continue
            if on_wait is not None and delay >= 1.0:  # not for the probe's short waits
                on_wait(delay)
            sleep(delay)
            waited += delay
            count_held_back(delay)

    def _take(
        self, key: tuple[str, str], endpoint: str, method: str, clock: Callable[[], float]
    ) -> float | None:
        """None when the caller may go now, else the seconds to wait before asking again."""
        now = clock()
        taken = self._db(_TAKE, (self.account, *key, self.margin, now))
        if taken is None:
            return self._local_take(endpoint, method, clock)
        if taken:
            return None
        token = uuid.uuid4().hex
        probe = self._db(
            _PROBE,
            {"account": self.account, "endpoint": key[0], "method": key[1],
             "until": now + PROBE_LEASE, "token": token, "now": now},
        )  # fmt: skip
        if probe is None:
            return self._local_take(endpoint, method, clock)
        if probe:
            # This caller opens the new window; its answer (or none) ends the lease.
            if not hasattr(self._probing, "tokens"):
                self._probing.tokens = {}
            self._probing.tokens[key] = token
            return None
        row = self._row(key)
        if row is False:
            return self._local_take(endpoint, method, clock)
        return self.delay_after_refusal(cast("_Row | None", row), now)

    def delay_after_refusal(self, row: _Row | None, now: float) -> float:
        """How long a caller that got neither a token nor the probe waits, given the row
        as it reads now (0: ask again at once)."""
        if row is None:
            return PROBE_POLL
        _, remaining, reset, probe_until = row
        if probe_until is not None and probe_until > now:
            # The probe's answer is on its way: look again soon.
            return PROBE_POLL * (1 + self._rng.random())
        if reset is None or reset <= now:
            return PROBE_POLL  # another caller is about to probe: look again soon
        if remaining is not None and remaining > 0 and reset - self.margin > now:
            # The window opened (the probe's answer came) since the token was refused.
            return 0.0
        # Spent (or in its last moments): every waiter wakes at the reset, spread out.
        return min(reset - now, self.max_wait) + self._rng.uniform(0, self.jitter)

    def _local_take(self, endpoint: str, method: str, clock: Callable[[], float]) -> float | None:
        """This call without the database: the process's own budget decides."""
        delay = self.local.try_take(endpoint, method, clock())
        return delay if delay > 0 else None
