"""Run state in SQLite: what was submitted, what finished, which actions are done.

The state is what makes a run resumable and each job submitted exactly once:

- the intent to submit a job is committed before its POST, its job_id right after the
  answer, so a crash leaves either "not sent", "sent and known" or the narrow ambiguous
  window "intent, no job_id" that the executor resolves by the job type's rule;
- a completed action is recorded with its outputs and never repeated on resume;
- a lock file per manifest (``fcntl.flock``) stops two runs of one manifest sharing a
  state directory.

One writer: the scheduling loop owns the connection (WAL mode, so ``sailjobs status`` or a
test can read while a run writes). Every write commits at once (autocommit).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from runner.jsontypes import JSONDict, JSONValue
from runner.results import JobStatus

DB_NAME = "state.db"
DEFAULT_STATE_DIR = Path(".sailjobs")  # --state's default
SANDBOX_KEY_SUFFIX = "-sandbox"  # a --sandbox run's manifest key (it never resumes a real one)
TARGET_SEPARATOR = "@"  # between a manifest's key and its --target's name
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    manifest_key TEXT NOT NULL,
    manifest_path TEXT NOT NULL,
    manifest_name TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    status TEXT NOT NULL,          -- running | interrupted | finished
    succeeded INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_manifest ON runs (manifest_key, started_at);
CREATE TABLE IF NOT EXISTS jobs (
    run_id TEXT NOT NULL,
    job TEXT NOT NULL,             -- the manifest's job id
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,          -- a runner.results.JobStatus value
    remote_job_id TEXT,
    remote_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}',   -- as submitted, masked
    intent_at REAL,
    submitted_at REAL,
    finished_at REAL,
    outputs TEXT NOT NULL DEFAULT '{}',  -- the job's fields (plus action outputs once done)
    error TEXT,
    outcome TEXT,                  -- the job's fate once decided, before its actions ran
    PRIMARY KEY (run_id, job)
);
CREATE TABLE IF NOT EXISTS reopenings (  -- `run --retry-failed` continued the run
    run_id TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL,
    owner TEXT NOT NULL,           -- the job id; '' for the manifest's notify actions
    phase TEXT NOT NULL,           -- on_success | on_failure | always
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    outputs TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    finished_at REAL NOT NULL,
    started_at REAL,               -- NULL in states written before it was kept
    PRIMARY KEY (run_id, owner, phase, idx)
);
"""


class StateError(Exception):
    """The state directory cannot be used (locked by another run, unreadable, newer schema)."""


class StateFullError(StateError):
    """The device of the state folder is full: nothing more can be recorded.

    Once raised, every later write raises it again, so the run records nothing half-way;
    what was recorded before stays, and the next run resumes from it."""


class StateLostError(StateError):
    """``state.db`` is missing or empty beside the traces of earlier runs."""


# What earlier runs leave in the state folder besides state.db (see check_not_lost).
_TRACES = (("locks", "*.lock", "lock file"), ("downloads", "*.json", "download claim"))


def _is_disk_full(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def lock_held(state_dir: Path, key: str) -> bool:
    """Whether a live process holds the lock of the manifest ``key`` (is running it now)."""
    return _held(Path(state_dir) / "locks" / f"{key}.lock")


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


def disk_full_message(state_dir: Path) -> str:
    return f"no space left on the device of the run state folder {state_dir}: free some space"


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


@dataclass
class RunRecord:
    run_id: str
    manifest_key: str
    manifest_path: str
    manifest_name: str
    manifest_sha256: str
    started_at: float
    finished_at: float | None
    status: str
    succeeded: bool | None
    inputs: JSONDict = field(default_factory=dict)  # Inputs.as_data() of the run

    @property
    def unfinished(self) -> bool:
        return self.status != "finished"

    @property
    def logical_date(self) -> str | None:
        """The run's ``--date`` (ISO), None when it ran for its start date."""
        value = self.inputs.get("date")
        return value if isinstance(value, str) else None


@dataclass
class JobRecord:
    """One job's row: everything needed to pick it up again in a later process."""

    run_id: str
    job: str
    job_type: str
    status: JobStatus
    remote_job_id: str | None = None
    remote_status: str | None = None
    attempts: int = 0
    polls: int = 0
    params: JSONDict = field(default_factory=dict)
    intent_at: float | None = None
    submitted_at: float | None = None
    finished_at: float | None = None
    outputs: JSONDict = field(default_factory=dict)
    error: str | None = None
    outcome: JobStatus | None = None  # decided (remote terminal, timed out), actions pending

    @property
    def ambiguous(self) -> bool:
        """The POST may have been sent but its answer was never recorded."""
        return self.intent_at is not None and self.remote_job_id is None


@dataclass
class ActionRecord:
    owner: str
    phase: str
    idx: int
    name: str
    plugin: str
    succeeded: bool
    attempts: int
    outputs: JSONDict
    error: str | None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None


# Columns added after schema 1 was released: (table, column, type). A state folder written
# by an earlier sailjobs gains them on open (an old sailjobs ignores them).
_ADDED_COLUMNS = (
    ("actions", "started_at", "REAL"),
    # The run's inputs (--target, --date, var overrides) as JSON: a resume keeps them.
    ("runs", "inputs", "TEXT"),
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, kind in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def manifest_key(path: Path) -> str:
    """A stable identity for a manifest: its resolved path (two checkouts are two manifests)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def run_key(manifest_path: Path, *, target: str | None = None, sandbox: bool = False) -> str:
    """The identity of a manifest's runs in the state: the manifest, its ``--target`` (a
    staging run never resumes as production's) and whether it ran on the embedded sandbox."""
    return (
        manifest_key(manifest_path)
        + (f"{TARGET_SEPARATOR}{target}" if target else "")
        + (SANDBOX_KEY_SUFFIX if sandbox else "")
    )


def is_run_of(key: str, manifest_path: Path) -> bool:
    """Whether a run recorded under ``key`` is one of this manifest's (any target)."""
    base = manifest_key(manifest_path)
    return key == base or key.startswith((base + TARGET_SEPARATOR, base + SANDBOX_KEY_SUFFIX))


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def to_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


class ManifestLock:
    """An exclusive, non-blocking ``flock`` on ``<state>/locks/<manifest key>.lock``.

    The kernel releases it when the process dies, even by SIGKILL, so a crashed run never
    leaves a stale lock behind.
    """

    def __init__(self, state_dir: Path, key: str, manifest_path: Path) -> None:
        self.path = state_dir / "locks" / f"{key}.lock"
        self.manifest_path = manifest_path
        self._fd: int | None = None

    def acquire(self) -> None:
        # The state folder first, so it is private too (parents=True would make it 0755).
        self.path.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.parent.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StateError(
                f"another sailjobs run of {self.manifest_path} is using the state directory "
                f"{self.path.parent.parent} (pid {holder}); wait for it to finish or use "
                "another --state DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

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


# The columns of the SELECTs below, as the schema above stores them.
_RunRow = tuple[str, str, str, str, str, float, float | None, str, int | None, str | None]
_JobRow = tuple[
    str, str, str, str, str | None, str | None, int, int, str, float | None, float | None,
    float | None, str, str | None, str | None,
]  # fmt: skip
_ActionRow = tuple[str, str, int, str, str, int, int, str, str | None, float | None, float | None]


def _run_record(row: _RunRow) -> RunRecord:
    run_id, key, path, name, sha256, started, finished, status, succeeded, inputs = row
    return RunRecord(
        run_id, key, path, name, sha256, started, finished, status,
        None if succeeded is None else bool(succeeded), _loads(inputs),
    )  # fmt: skip


def _dumps(data: Mapping[str, JSONValue]) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _loads(text: str | None) -> JSONDict:
    """A JSON object column; NULL (a row written before the column existed) is empty."""
    data = json.loads(text) if text else {}
    return data if isinstance(data, dict) else {}


class RunState:
    """The SQLite run state under a state directory (``.sailjobs/`` by default)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.failed: StateError | None = None  # a write failed: nothing more is recorded
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
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes
            self._conn.executescript(_SCHEMA)
            _add_missing_columns(self._conn)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
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
        if row is None:
            self._conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            self._conn.close()
            raise StateError(
                f"{self.db_path} was written by a newer sailjobs (schema {row[0]}); "
                "upgrade sailjobs or use another --state DIR"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """The writes inside happen all together or not at all (a crash, a full disk)."""
        with self._lock:
            self._execute("BEGIN IMMEDIATE")
            try:
                yield
                self._execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> None:
        with self._lock:
            if self.failed is not None:
                raise self.failed
            try:
                self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if not _is_disk_full(exc):
                    raise
                self.failed = StateFullError(disk_full_message(self.state_dir))
                raise self.failed from exc

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows as SQLite returns them; each caller casts them to its columns' types."""
        with self._lock:  # fetched under the lock: workers share this connection
            return self._conn.execute(sql, params).fetchall()

    # runs -----------------------------------------------------------------------------

    def _runs(self, where: str, params: tuple[object, ...], limit: int | None) -> list[RunRecord]:
        """Runs, newest first."""
        rows = self._query(
            "SELECT run_id, manifest_key, manifest_path, manifest_name, manifest_sha256, "
            f"started_at, finished_at, status, succeeded, inputs FROM runs {where} "
            "ORDER BY started_at DESC, rowid DESC" + ("" if limit is None else f" LIMIT {limit}"),
            params,
        )
        return [_run_record(cast(_RunRow, row)) for row in rows]

    def last_run(self, key: str) -> RunRecord | None:
        found = self._runs("WHERE manifest_key = ?", (key,), 1)
        return found[0] if found else None

    def runs(self, key: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Every run (of one manifest with ``key``), newest first."""
        if key is None:
            return self._runs("", (), limit)
        return self._runs("WHERE manifest_key = ?", (key,), limit)

    def run(self, run_id: str) -> RunRecord | None:
        found = self._runs("WHERE run_id = ?", (run_id,), 1)
        return found[0] if found else None

    def reopenings(self, run_id: str) -> list[float]:
        """When ``run --retry-failed`` continued the run (epoch seconds, oldest first)."""
        rows = self._query("SELECT at FROM reopenings WHERE run_id = ? ORDER BY at", (run_id,))
        return [cast(float, row[0]) for row in rows]

    def record_reopened(self, run_id: str) -> None:
        """``--retry-failed`` continues a run: recorded, and the run is running again."""
        self._execute("INSERT INTO reopenings VALUES (?, ?)", (run_id, time.time()))
        self._execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, succeeded = NULL "
            "WHERE run_id = ?",
            (run_id,),
        )
        # The run's outcome changes: its notify actions tell it again.
        self._execute("DELETE FROM actions WHERE run_id = ? AND owner = ''", (run_id,))

    def start_run(
        self,
        run_id: str,
        key: str,
        manifest_path: Path,
        manifest_name: str,
        sha256: str,
        inputs: Mapping[str, JSONValue] | None = None,
    ) -> float:
        """Record a new run; returns its start time as stored (epoch seconds)."""
        now = time.time()
        self._execute(
            "INSERT INTO runs (run_id, manifest_key, manifest_path, manifest_name, "
            "manifest_sha256, started_at, status, inputs) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
            (run_id, key, str(manifest_path), manifest_name, sha256, now, _dumps(inputs or {})),
        )
        return now

    def reopen_run(self, run_id: str) -> None:
        self._execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (run_id,))

    def end_run(
        self, run_id: str, *, interrupted: bool, succeeded: bool, at: float | None = None
    ) -> None:
        """``at``: the end as the run's result says it (so a rebuilt report matches)."""
        if interrupted:
            self._execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", (run_id,))
        else:
            self._execute(
                "UPDATE runs SET status = 'finished', finished_at = ?, succeeded = ? "
                "WHERE run_id = ?",
                (time.time() if at is None else at, int(succeeded), run_id),
            )

    # jobs -----------------------------------------------------------------------------

    def jobs(self, run_id: str) -> dict[str, JobRecord]:
        rows = self._query(
            "SELECT run_id, job, job_type, status, remote_job_id, remote_status, attempts, "
            "polls, params, intent_at, submitted_at, finished_at, outputs, error, outcome "
            "FROM jobs WHERE run_id = ? ORDER BY rowid",  # in the order they were added
            (run_id,),
        )
        records = {}
        for row in cast(list[_JobRow], rows):
            (run, job, job_type, status, remote_id, remote_status, attempts, polls,
             params, intent_at, submitted_at, finished_at, outputs, error, outcome) = row  # fmt: skip
            records[job] = JobRecord(
                run, job, job_type, JobStatus(status), remote_id, remote_status, attempts,
                polls, json.loads(params), intent_at, submitted_at, finished_at,
                json.loads(outputs), error, None if outcome is None else JobStatus(outcome),
            )  # fmt: skip
        return records

    def last_success(
        self, key: str, job: str, inputs: Mapping[str, JSONValue], run_id: str | None = None
    ) -> JobRecord | None:
        """The job's row in the latest run of the manifest ``key`` with these ``inputs``
        (``--date``, ``--var``s: a backfill never reads today's outputs) where it succeeded
        (its outputs are what a run that does not select it reads), or None. ``run_id``:
        that run only (a saved plan's)."""
        same = _dumps(inputs)
        none_given = not any(inputs.values())  # also the runs recorded before inputs were
        row = self._query(
            "SELECT jobs.run_id FROM jobs JOIN runs ON runs.run_id = jobs.run_id "
            "WHERE runs.manifest_key = ? AND jobs.job = ? AND jobs.status = ? "
            "AND (runs.inputs = ? OR (runs.inputs IS NULL AND ?)) "
            + ("AND runs.run_id = ? " if run_id else "")
            + "ORDER BY jobs.finished_at DESC, jobs.rowid DESC LIMIT 1",
            (key, job, JobStatus.SUCCEEDED.value, same, none_given) + ((run_id,) if run_id else ()),
        )
        return self.jobs(cast(str, row[0][0]))[job] if row else None

    def add_job(self, run_id: str, job: str, job_type: str) -> None:
        self._execute(
            "INSERT OR IGNORE INTO jobs (run_id, job, job_type, status) VALUES (?, ?, ?, ?)",
            (run_id, job, job_type, JobStatus.WAITING.value),
        )

    def record_intent(
        self, run_id: str, job: str, params: Mapping[str, JSONValue], attempts: int
    ) -> float:
        """Committed before the POST: from here on a crash leaves the ambiguous window."""
        now = time.time()
        self._execute(
            "UPDATE jobs SET status = ?, intent_at = ?, params = ?, attempts = ? "
            "WHERE run_id = ? AND job = ?",
            (JobStatus.SUBMITTING.value, now, _dumps(params), attempts, run_id, job),
        )
        return now

    def record_refused(self, run_id: str, job: str) -> None:
        """The API answered the POST with a refusal (an error code, a 429, a 4xx): no job was
        created, so the job is out of the ambiguous window (a retry submits it again)."""
        self._execute(
            "UPDATE jobs SET intent_at = NULL WHERE run_id = ? AND job = ? "
            "AND remote_job_id IS NULL",
            (run_id, job),
        )

    def record_submitted(
        self,
        run_id: str,
        job: str,
        remote_job_id: str,
        remote_status: str | None,
        *,
        started_at: float | None = None,
    ) -> float:
        """Committed right after the API answered with a job_id; returns the time stored.

        ``started_at``: when the submission started (its timeout counts from then), stored as
        the job's ``submitted_at`` so the run's own report and one rebuilt from the state agree.
        """
        now = started_at if started_at is not None else time.time()
        self._execute(
            "UPDATE jobs SET status = ?, remote_job_id = ?, remote_status = ?, "
            "submitted_at = COALESCE(submitted_at, ?) WHERE run_id = ? AND job = ?",
            (JobStatus.RUNNING.value, remote_job_id, remote_status, now, run_id, job),
        )
        return now

    def record_remote(
        self,
        run_id: str,
        job: str,
        *,
        remote_status: str | None,
        polls: int,
        outputs: Mapping[str, JSONValue] | None = None,
    ) -> None:
        """A poll's news: the remote status, and the job's fields once it is terminal."""
        if outputs is None:
            self._execute(
                "UPDATE jobs SET remote_status = ?, polls = ? WHERE run_id = ? AND job = ?",
                (remote_status, polls, run_id, job),
            )
        else:
            self._execute(
                "UPDATE jobs SET remote_status = ?, polls = ?, outputs = ? "
                "WHERE run_id = ? AND job = ?",
                (remote_status, polls, _dumps(outputs), run_id, job),
            )

    def record_outcome(
        self,
        run_id: str,
        job: str,
        outcome: JobStatus,
        *,
        remote_status: str | None,
        outputs: Mapping[str, JSONValue],
        error: str | None,
        polls: int,
    ) -> None:
        """The job's fate is known (remote terminal, timed out); its actions come next."""
        self._execute(
            "UPDATE jobs SET outcome = ?, remote_status = ?, outputs = ?, error = ?, polls = ? "
            "WHERE run_id = ? AND job = ?",
            (outcome.value, remote_status, _dumps(outputs), error, polls, run_id, job),
        )

    def record_finished(
        self,
        run_id: str,
        job: str,
        status: JobStatus,
        *,
        outputs: Mapping[str, JSONValue],
        error: str | None,
        polls: int,
        params: Mapping[str, JSONValue] | None = None,
        at: float | None = None,
    ) -> None:
        """``at``: the end as the job's result says it (so a rebuilt report matches)."""
        self._execute(
            "UPDATE jobs SET status = ?, outputs = ?, error = ?, polls = ?, finished_at = ?, "
            "params = COALESCE(?, params) WHERE run_id = ? AND job = ?",
            (
                status.value, _dumps(outputs), error, polls, time.time() if at is None else at,
                None if params is None else _dumps(params), run_id, job,
            ),
        )  # fmt: skip

    def reset_for_resubmit(self, run_id: str, job: str, part_prefix: str) -> None:
        """``--retry-failed``: the job is submitted again, as if new (its attempts count on).

        Its earlier answer, outputs, actions and split parts (rows ``job + part_prefix…``)
        go: they belong to the job that failed."""
        self._execute(
            "UPDATE jobs SET status = ?, remote_job_id = NULL, remote_status = NULL, "
            "intent_at = NULL, submitted_at = NULL, finished_at = NULL, outputs = '{}', "
            "error = NULL, outcome = NULL WHERE run_id = ? AND job = ?",
            (JobStatus.WAITING.value, run_id, job),
        )
        self._execute("DELETE FROM actions WHERE run_id = ? AND owner = ?", (run_id, job))
        prefix = job + part_prefix
        self._execute(
            "DELETE FROM jobs WHERE run_id = ? AND substr(job, 1, ?) = ?",
            (run_id, len(prefix), prefix),
        )

    def reset_for_polling(self, run_id: str, job: str) -> None:
        """``--retry-failed``: a job that timed out at Sailthru's pace is polled again."""
        self._execute(
            "UPDATE jobs SET status = ?, outcome = NULL, error = NULL, finished_at = NULL "
            "WHERE run_id = ? AND job = ?",
            (JobStatus.RUNNING.value, run_id, job),
        )
        self._execute("DELETE FROM actions WHERE run_id = ? AND owner = ?", (run_id, job))

    def reset_for_actions(self, run_id: str, job: str) -> None:
        """``--retry-failed``: the job's outcome stands; its actions that failed run again
        (those that succeeded are restored from their rows, not repeated)."""
        self._execute(
            "UPDATE jobs SET status = ?, error = NULL, finished_at = NULL "
            "WHERE run_id = ? AND job = ?",
            (JobStatus.RUNNING.value, run_id, job),
        )

    # actions --------------------------------------------------------------------------

    def actions(self, run_id: str, owner: str | None = None) -> list[ActionRecord]:
        sql = (
            "SELECT owner, phase, idx, name, plugin, succeeded, attempts, outputs, error, "
            "started_at, finished_at FROM actions WHERE run_id = ?"
        )
        params: tuple[object, ...] = (run_id,)
        if owner is not None:
            sql += " AND owner = ?"
            params += (owner,)
        return [
            ActionRecord(o, ph, i, n, pl, bool(s), a, json.loads(out), e, start, end)
            for o, ph, i, n, pl, s, a, out, e, start, end in cast(
                list[_ActionRow], self._query(sql, params)
            )
        ]

    def record_action(self, run_id: str, owner: str, record: ActionRecord) -> None:
        self._execute(
            "INSERT OR REPLACE INTO actions (run_id, owner, phase, idx, name, plugin, "
            "succeeded, attempts, outputs, error, finished_at, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id, owner, record.phase, record.idx, record.name, record.plugin,
                int(record.succeeded), record.attempts, _dumps(record.outputs), record.error,
                record.finished_at or time.time(), record.started_at,
            ),
        )  # fmt: skip
