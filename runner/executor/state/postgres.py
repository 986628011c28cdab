"""The run state in PostgreSQL (``--state postgresql://…``): the shared backend.

Runs move between machines (an ephemeral CI runner that dies is resumed by another one that
shares only the URL), and many runners share one account's API budget (``budget``).

- Connections come from a psycopg pool. A write that fails because the server went away (a
  restart, a network cut) is retried for ``retry_seconds``; past that the state is
  unavailable, every later write raises the same error, and the run stops without sending
  anything it could not record first.
- The run lock is a session advisory lock on a connection of its own: PostgreSQL releases
  it when the session ends, which a killed process's closed socket does at once and a
  vanished machine's silent one does within ``LOCK_KEEPALIVE_SECONDS`` (server-side TCP
  keepalives). ``lock_holders`` says who holds it, for the message of the run that waits.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, LiteralString, NoReturn, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from runner.durations import parse_duration
from runner.executor.state.budget import SharedBudget
from runner.executor.state.errors import (
    LockTimeoutError,
    StateError,
    StateUnavailableError,
)
from runner.executor.state.migrations import pending
from runner.executor.state.store import LockNotice, RunState
from runner.masking import register_secret

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow
    from psycopg_pool import ConnectionPool

    Connection = psycopg.Connection[TupleRow]

RETRY_SECONDS = 30.0  # how long a state write keeps trying a server that went away
RETRY_ENV = "SAILJOBS_STATE_RETRY_SECONDS"  # another window: seconds (30) or a duration (5m)
CONNECT_TIMEOUT = 10  # seconds, for each new connection
# The pool logs a warning per failed reconnection: the retries are ours to report (their
# error, when they give up), not a screenful of its attempts while a server restarts.
_POOL_LOGGER = "psycopg.pool"
LOCK_POLL_SECONDS = 1.0  # how often a run waiting for the lock (--lock-timeout) tries again
LOCK_HEARTBEAT_SECONDS = 5.0  # how often the lock's session is checked (and retaken if lost)
# The server drops a vanished runner's session (and so its lock) after about this long:
# keepalive idle 10 s, then 4 probes 5 s apart.
LOCK_KEEPALIVE_SECONDS = 30
_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4"
)
_LOCK_CLASS = 0x5A11  # sailjobs' advisory locks: (class, manifest) pairs
_MIGRATION_LOCK = 0  # the manifest number of the schema migration's own lock


def url_passwords(url: str) -> list[str]:
    """The passwords a libpq URL carries: in its user info, or as ``?password=``."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password is not None else []
    return found + [value for name, value in parse_qsl(parts.query) if name == "password"]


def displayed_url(url: str) -> str:
    """The URL without its password (which libpq also reads from PGPASSWORD or ~/.pgpass)."""
    if not url_passwords(url):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"], safe="/")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _require_psycopg() -> None:
    try:
        # lazy: psycopg is an extra, loaded only for a postgresql:// state
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StateError(
            f"a postgresql:// state needs psycopg ({exc.name} is not installed): "
            "pip install 'sailjobs[postgres]'"
        ) from None


def _sql(text: str) -> LiteralString:
    """A statement of this module (psycopg's types ask for literal text, which the shared
    queries are, though built by concatenation)."""
    return cast("LiteralString", text)


def _lock_id(key: str) -> int:
    """The advisory lock's second number for a manifest key (a positive 32-bit int)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF or 1


def retry_seconds_from_env() -> float:
    """The retry window of state writes: ``$SAILJOBS_STATE_RETRY_SECONDS``, else 30 s."""
    text = os.environ.get(RETRY_ENV, "").strip()
    if not text:
        return RETRY_SECONDS
    try:
        seconds = float(text)  # a number of seconds, as the name says, or a duration
    except ValueError:
        try:
            seconds = parse_duration(text).total_seconds()
        except ValueError as exc:
            raise StateError(f"{RETRY_ENV}={text}: {exc}; unset it for the default 30s") from None
    if not 0 <= seconds < float("inf"):
        raise StateError(f"{RETRY_ENV}={text}: not a window of time; unset it for the default 30s")
    return seconds


def _gone(exc: BaseException) -> bool:
    """Whether an error means the server or the connection went away (worth retrying)."""
    # lazy: psycopg is an extra (installed: a PostgresState exists)
    import psycopg
    import psycopg_pool

    return isinstance(exc, psycopg.OperationalError | psycopg_pool.PoolTimeout)


class PostgresState(RunState):
    """The run state in a PostgreSQL database, created and migrated on first use."""

    def __init__(self, url: str, *, scratch_dir: Path, retry_seconds: float | None = None) -> None:
        _require_psycopg()
        # lazy: psycopg is an extra, loaded only for a postgresql:// state
        import psycopg
        import psycopg_pool

        self.url = url
        self.scratch_dir = Path(scratch_dir)
        self.retry_seconds = retry_seconds_from_env() if retry_seconds is None else retry_seconds
        # One wait for a pooled connection never outlasts the retry window by much.
        self._pool_timeout = max(1.0, min(CONNECT_TIMEOUT, self.retry_seconds))
        logging.getLogger(_POOL_LOGGER).setLevel(logging.ERROR)
        self.failed = None
        for password in url_passwords(url):
            register_secret(password)
        self._local = threading.local()  # the connection of a transaction, per thread
        self._holding: AdvisoryLock | None = None  # the run lock this state writes under
        try:
            # One plain connection first: its error says why (a pool only times out).
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True) as conn:
                self.migrated = self._migrate(conn)
        except psycopg.Error as exc:
            raise StateError(f"cannot use {self.describe()}: {_reason(exc)}") from exc
        self.pool: ConnectionPool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=8,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            name="sailjobs-state",
            open=True,
        )

    def describe(self) -> str:
        return f"the state database {displayed_url(self.url)}"

    def close(self) -> None:
        self.pool.close()

    def shared_budget(self, api_url: str, api_key: str) -> SharedBudget:
        return SharedBudget(self.pool, api_url, api_key)

    # schema ---------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Bring the schema to this sailjobs' version; returns the versions applied."""
        with self.pool.connection() as conn:
            return self._migrate(conn)

    def _migrate(self, conn: Connection) -> list[int]:
        # One migration at a time, whichever machine starts first; DDL is transactional.
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, _MIGRATION_LOCK))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            current = int(row[0]) if row else 0
            self._refuse_newer(current)
            applied = []
            for step in pending(current):
                for statement in step.statements("postgres"):
                    conn.execute(_sql(statement))
                applied.append(step.version)
            if applied:
                conn.execute(
                    "INSERT INTO meta VALUES ('schema', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(applied[-1]),),
                )
        return applied

    # statements -----------------------------------------------------------------------

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_delay(self.retry_seconds),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            retry=retry_if_exception(_gone),
            reraise=True,
        )

    def _run(
        self, sql: str, params: tuple[object, ...], *, fetch: bool
    ) -> tuple[list[tuple[object, ...]], int]:
        """The rows (when ``fetch``) and the count of rows the statement changed."""
        if self.failed is not None:
            raise self.failed
        query = _sql(sql.replace("?", "%s"))
        in_transaction: Connection | None = getattr(self._local, "conn", None)
        try:
            if in_transaction is not None:  # all or nothing: no retry of one part
                cursor = in_transaction.execute(query, params)
                return (cursor.fetchall() if fetch else []), cursor.rowcount
            for attempt in self._retrying():
                with attempt, self.pool.connection(timeout=self._pool_timeout) as conn:
                    cursor = conn.execute(query, params)
                    return (cursor.fetchall() if fetch else []), cursor.rowcount
        except Exception as exc:
            if _gone(exc):
                self._unavailable(exc)
            raise
        raise AssertionError("unreachable: Retrying reraises")

    def _unavailable(self, exc: BaseException) -> NoReturn:
        self.failed = StateUnavailableError(
            f"{self.describe()} is out of reach ({_reason(exc)}), still after "
            f"{self.retry_seconds:g} s of retries: the run stopped, having sent nothing it had "
            "not recorded; bring the database back (or wait for it)"
        )
        raise self.failed from exc

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        return self._run(sql, params, fetch=False)[1]

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self._run(sql, params, fetch=True)[0]

    def _fence(self) -> tuple[str, tuple[object, ...]]:
        if self._holding is None:
            return "", ()
        return (
            " AND EXISTS (SELECT 1 FROM lock_holders WHERE manifest_key = ? AND token = ?)",
            (self._holding.key, self._holding.token),
        )

    def _lost_lock(self) -> NoReturn:
        holding = self._holding
        assert holding is not None
        self.failed = StateUnavailableError(
            f"the run lost its lock in {self.describe()} (the database restarted, and "
            f"another run took it: {self.holder(holding.key)}); this run stopped before "
            "sending another job, so that two runs never send one"
        )
        raise self.failed

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.failed is not None:
            raise self.failed
        try:
            with self.pool.connection(timeout=self._pool_timeout) as conn, conn.transaction():
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except Exception as exc:
            if _gone(exc) and self.failed is None:
                self._unavailable(exc)
            raise

    # locks ----------------------------------------------------------------------------

    def _run_lock(self, key: str, manifest_path: Path) -> AdvisoryLock:
        lock = AdvisoryLock(self, key, manifest_path)
        self._holding = lock
        return lock

    def lock_held(self, key: str) -> bool:
        rows = self._query(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid::bigint = ? AND objid::bigint = ? AND objsubid = 2 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (_LOCK_CLASS, _lock_id(key)),
        )
        return bool(rows)

    def holder(self, key: str) -> str:
        """Who holds the manifest's lock, as the holder recorded it."""
        rows = self._query(
            "SELECT host, pid, since FROM lock_holders WHERE manifest_key = ?", (key,)
        )
        if not rows:
            return "holder unknown"
        host, pid, since = rows[0]
        when = datetime.fromtimestamp(cast(float, since), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"host {host}, pid {pid}, since {when}"


def _reason(exc: BaseException) -> str:
    """The first line of a psycopg error (its text can run on with server details)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class AdvisoryLock:
    """A manifest's run lock: a session advisory lock on a connection of its own, checked
    every few seconds and taken again if the server restarted (then it says the run lost
    it when another run took it first)."""

    def __init__(self, state: PostgresState, key: str, manifest_path: Path) -> None:
        self.state = state
        self.key = key
        self.manifest_path = manifest_path
        self._conn: Connection | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        # This holding's own mark in lock_holders: a run that took the lock after a restart
        # replaces it, and this run's intents to submit (fenced by it) are refused.
        self.token = secrets.token_hex(8)
        self._heartbeat: threading.Thread | None = None

    def _connect(self) -> Connection:
        # lazy: psycopg is an extra (installed: a PostgresState exists)
        import psycopg

        conn = psycopg.connect(
            self.state.url,
            connect_timeout=CONNECT_TIMEOUT,
            autocommit=True,
            application_name=f"sailjobs lock {self.key}",
        )
        for statement in _KEEPALIVES.split(";"):
            conn.execute(_sql(statement))
        return conn

    def _reconnect(self) -> Connection:
        """A connection for the lock, tried for the state's retry window."""
        give_up = time.monotonic() + self.state.retry_seconds
        while True:
            try:
                return self._connect()
            except Exception as exc:
                if not _gone(exc) or time.monotonic() >= give_up:
                    raise StateError(
                        f"cannot lock in {self.state.describe()}: {_reason(exc)}"
                    ) from exc
                time.sleep(LOCK_POLL_SECONDS)

    def _try(self, conn: Connection) -> bool:
        row = conn.execute(
            "SELECT pg_try_advisory_lock(%s::int4, %s::int4)", (_LOCK_CLASS, _lock_id(self.key))
        ).fetchone()
        return bool(row and row[0])

    def acquire(self, timeout: float, notice: LockNotice | None) -> None:
        deadline = time.monotonic() + timeout
        told = False
        conn = self._reconnect()
        while True:
            try:
                if self._try(conn):
                    break
                holder = self.state.holder(self.key)
            except Exception as exc:
                if not _gone(exc):
                    raise
                conn.close()  # the server restarted while this run waited: wait on
                conn = self._reconnect()
                continue
            if time.monotonic() >= deadline:
                conn.close()
                waited = f"waited {timeout:g} s" if timeout else "did not wait"
                raise LockTimeoutError(
                    f"another sailjobs run of {self.manifest_path} holds its lock in "
                    f"{self.state.describe()} ({holder}); {waited}: wait for it to finish "
                    "(--lock-timeout 10m waits for it)"
                )
            if notice is not None and not told:
                notice(f"waiting for the other run of {self.manifest_path} ({holder})")
                told = True
            time.sleep(LOCK_POLL_SECONDS)
        self._conn = conn
        self._record_holder()
        self._heartbeat = threading.Thread(
            target=self._keep, name="sailjobs-lock-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def _record_holder(self) -> None:
        self.state._execute(
            "INSERT INTO lock_holders (manifest_key, host, pid, since, manifest_path, token) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (manifest_key) "
            "DO UPDATE SET host = excluded.host, pid = excluded.pid, since = excluded.since, "
            "manifest_path = excluded.manifest_path, token = excluded.token",
            (
                self.key, socket.gethostname(), os.getpid(), time.time(),
                str(self.manifest_path), self.token,
            ),
        )  # fmt: skip

    def _keep(self) -> None:
        """Check the lock's session; after a restart, take the lock again or stop the run."""
        while not self._stop.wait(LOCK_HEARTBEAT_SECONDS):
            with self._guard:
                if self._conn is None:
                    return
                try:
                    self._conn.execute("SELECT 1")
                    continue
                except Exception:  # the session is gone, and with it the lock
                    self._conn.close()
                    self._conn = None
                try:
                    why = self._retake()
                except Exception as exc:  # the server went again, or the state stopped
                    why = f"cannot hold it ({_reason(exc)})"
                if why is not None:
                    if self._conn is not None:
                        self._conn.close()  # let go: the next run is not kept waiting
                        self._conn = None
                    self._lost(why)
                    return

    def _retake(self) -> str | None:
        """Take the lock again on a new session: None, or why it cannot be this run's."""
        deadline = time.monotonic() + self.state.retry_seconds
        while self._conn is None:
            if self._stop.is_set():
                return "the run ended while the database was away"
            try:
                self._conn = self._connect()
            except Exception as exc:
                if time.monotonic() >= deadline:
                    return f"cannot reach the database to hold it ({_reason(exc)})"
                time.sleep(LOCK_POLL_SECONDS)
        if not self._try(self._conn):
            return f"another run took it ({self.state.holder(self.key)})"
        # Taken again; but if another run held it in between (and maybe finished the jobs
        # this one still thinks pending), its mark replaced ours.
        if not self.state._execute(
            "UPDATE lock_holders SET since = since WHERE manifest_key = ? AND token = ?",
            (self.key, self.token),
        ):
            return "another run held it while the database was away"
        return None

    def _lost(self, why: str) -> None:
        if self.state.failed is None:
            self.state.failed = StateUnavailableError(
                f"the run lost its lock in {self.state.describe()} when the database went away: "
                f"{why}; this run stopped recording so that two runs never send one job"
            )

    def release(self) -> None:
        self.state._holding = None
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        with self._guard:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.execute(
                        "DELETE FROM lock_holders WHERE manifest_key = %s AND token = %s",
                        (self.key, self.token),
                    )
                self._conn.close()  # ends the session: the lock goes with it
                self._conn = None
