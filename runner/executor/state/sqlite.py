"""The run state in SQLite, in a folder (``.sailjobs/`` by default): the embedded default.

One writer: the scheduling loop owns the connection (WAL mode, so ``sailjobs status`` or a
test can read while a run writes). A lock file per manifest (``fcntl.flock``) stops two
runs of one manifest sharing the folder; the kernel releases it when its process dies,
even by SIGKILL, so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from runner.executor.state.errors import (
    LockTimeoutError,
    StateError,
    StateFullError,
    StateLostError,
)
from runner.executor.state.migrations import LEGACY_COLUMNS, pending
from runner.executor.state.store import LockNotice, RunState

DB_NAME = "state.db"
SETUP_LOCK_NAME = "setup.lock"
LOCK_POLL_SECONDS = 0.5  # how often a run waiting for the lock (--lock-timeout) tries again

# What earlier runs leave in the state folder besides state.db (see check_not_lost).
_TRACES = (("locks", "*.lock", "lock file"), ("downloads", "*.json", "download claim"))


def _is_disk_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def disk_full_message(state_dir: Path) -> str:
    return f"no space left on the device of the run state folder {state_dir}: free some space"


@contextlib.contextmanager
def _setup_lock(state_dir: Path) -> Iterator[None]:
    """Held while a connection sets up the database (WAL mode, migrations). Two runs opening
    a new folder at once would otherwise race: SQLite answers "database is locked" at once,
    without waiting, to the one that finds the other converting the file to WAL."""
    fd = os.open(state_dir / SETUP_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _held(path: Path) -> bool:
    """Whether a running process holds the ``flock`` of this file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def check_not_lost(state_dir: Path, start_over: str) -> None:
    """Refuse a missing or zero-byte ``state.db`` where earlier runs left their traces.

    A new empty state there would submit every job of those runs again (imports twice);
    ``start_over`` is the command that does start over (``--fresh``), on purpose.
    """
    db = Path(state_dir) / DB_NAME
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        size = None
    if size:
        return
    found = []
    for folder, pattern, noun in _TRACES:
        # A lock held right now is a live run's (it made its state.db first): the lock
        # itself then says who has the folder.
        count = sum(1 for p in (Path(state_dir) / folder).glob(pattern) if not _held(p))
        if count:
            found.append(f"{count} {noun}{'s' * (count != 1)} in {Path(state_dir) / folder}")
    if not found:
        return
    what = "missing" if size is None else "empty (0 bytes)"
    raise StateLostError(
        f"the run state {db} is {what}, but {' and '.join(found)} remain from earlier runs: "
        "an empty state would submit their jobs again. Put the state.db back, or start "
        f"over on purpose with `{start_over}`"
    )


class ManifestLock:
    """An exclusive ``flock`` on ``<state>/locks/<manifest key>.lock``, taken at once or
    within ``timeout`` seconds. The file says who holds it: host, pid and since when."""

    def __init__(self, state_dir: Path, key: str, manifest_path: Path) -> None:
        self.path = state_dir / "locks" / f"{key}.lock"
        self.manifest_path = manifest_path
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, notice: LockNotice | None = None) -> None:
        try:
            self._acquire(timeout, notice)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StateFullError(disk_full_message(self.path.parent.parent)) from exc
            raise StateError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc

    def _acquire(self, timeout: float, notice: LockNotice | None) -> None:
        # The state folder first, so it is private too (parents=True would make it 0755).
        self.path.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.parent.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "unknown"
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeoutError(self._held_message(holder, timeout)) from None
                if notice is not None and not told:
                    notice(f"waiting for the other run of {self.manifest_path} ({holder})")
                    told = True
                time.sleep(LOCK_POLL_SECONDS)
        os.ftruncate(fd, 0)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.pwrite(fd, f"host {socket.gethostname()}, pid {os.getpid()}, since {since}".encode(), 0)
        self._fd = fd

    def _held_message(self, holder: str, timeout: float) -> str:
        waited = f" for {timeout:g} s" if timeout else ""
        return (
            f"another sailjobs run of {self.manifest_path} holds its lock in the state folder "
            f"{self.path.parent.parent} ({holder}); waited{waited or ' not at all'}: wait for "
            "it to finish (--lock-timeout 10m waits for it), or use another --state"
        )

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ManifestLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SQLiteState(RunState):
    """The SQLite run state under a state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = self.scratch_dir = Path(state_dir)
        self.failed = None
        self.db_path = self.state_dir / DB_NAME
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            created = not self.db_path.exists()
            # One connection, used by the scheduling loop; the lock guards the rare call from
            # another thread (a signal handler's final write).
            self._conn = sqlite3.connect(
                self.db_path, isolation_level=None, check_same_thread=False, timeout=30
            )
        except (OSError, sqlite3.Error) as exc:
            if _is_disk_full(exc) or getattr(exc, "errno", None) == errno.ENOSPC:
                raise StateFullError(disk_full_message(self.state_dir)) from exc
            raise StateError(f"cannot open the run state in {self.state_dir}: {exc}") from exc
        os.chmod(self.db_path, 0o600)
        self._lock = threading.RLock()
        try:
            with _setup_lock(self.state_dir):
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
                self.migrated = self.migrate()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if _is_disk_full(exc):
                if created:  # an empty file left here would look like a lost state
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
                raise StateFullError(disk_full_message(self.state_dir)) from exc
            raise StateError(
                f"{self.db_path} is not a usable sailjobs state database ({exc}); "
                "move it away or use another --state DIR"
            ) from exc
        except StateError:
            self._conn.close()
            raise
        except OSError as exc:  # the setup lock's file
            self._conn.close()
            raise StateError(f"cannot open the run state in {self.state_dir}: {exc}") from exc

    def describe(self) -> str:
        return f"the state folder {self.state_dir}"

    def migrate(self) -> list[int]:
        """Bring the schema to this sailjobs' version; returns the versions applied."""
        with self.transaction():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            current = self.schema_version()
            self._refuse_newer(current)
            if current >= 1:
                self._add_legacy_columns()
            applied = []
            for step in pending(current):
                for statement in step.statements("sqlite"):
                    self._conn.execute(statement)
                applied.append(step.version)
            if applied:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('schema', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(applied[-1]),),
                )
        return applied

    def _add_legacy_columns(self) -> None:
        for table, column, kind in LEGACY_COLUMNS:
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                yield
                self._execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        with self._lock:
            if self.failed is not None:
                raise self.failed
            try:
                return self._conn.execute(sql, params).rowcount
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                self.failed = StateFullError(disk_full_message(self.state_dir))
                raise self.failed from exc

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:  # fetched under the lock: workers share this connection
            return self._conn.execute(sql, params).fetchall()

    def _run_lock(self, key: str, manifest_path: Path) -> ManifestLock:
        return ManifestLock(self.state_dir, key, manifest_path)

    def lock_held(self, key: str) -> bool:
        return _held(self.state_dir / "locks" / f"{key}.lock")
