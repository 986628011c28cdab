"""The run state's queries, written once for both backends (``sqlite``, ``postgres``).

The state is what makes a run resumable and each job submitted exactly once:

- the intent to submit a job is committed before its POST, its job_id right after the
  answer, so a crash leaves either "not sent", "sent and known" or the narrow ambiguous
  window "intent, no job_id" that the executor resolves by the job type's rule;
- a completed action is recorded with its outputs and never repeated on resume;
- one run of a manifest at a time holds its lock (``lock``).

Every write commits at once. A backend gives ``_execute``, ``_query`` and ``transaction``
over its connection, with ``?`` placeholders, and the lock; the SQL below is the common
subset of SQLite and PostgreSQL (``ON CONFLICT`` upserts, a ``rowid`` column for the order
rows were added).
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn, Protocol, cast

from runner.executor.state.errors import StateError, StateUnavailableError, StateWriteError
from runner.executor.state.migrations import SCHEMA_VERSION
from runner.executor.state.records import (
    ActionRecord,
    JobRecord,
    RunRecord,
    dumps,
    loads,
)
from runner.executor.state.sealing import Sealer
from runner.jsontypes import JSONValue
from runner.results import JobStatus
from runner.sailthru.ratelimit import Budget

# The columns of the SELECTs below, as the schema stores them.
_RunRow = tuple[
    str, str, str, str, str, float, float | None, str, int | None, str | None, str | None,
    int | None, str | None,
]  # fmt: skip
_JobRow = tuple[
    str, str, str, str, str | None, str | None, int, int, str, float | None, float | None,
    float | None, str, str | None, str | None,
]  # fmt: skip
_ActionRow = tuple[str, str, int, str, str, int, int, str, str | None, float | None, float | None]
_RUN_COLUMNS = (
    "run_id, manifest_key, manifest_path, manifest_name, manifest_sha256, started_at, "
    "finished_at, status, succeeded, inputs, host, pid, run_key"
)

# Where a lock's waiting is told (a note on the terminal).
LockNotice = Callable[[str], None]


class RunLock(Protocol):
    """A backend's lock of one manifest's runs."""

    def acquire(self, timeout: float, notice: LockNotice | None) -> None: ...

    def release(self) -> None: ...


def _run_record(row: _RunRow) -> RunRecord:
    (run_id, key, path, name, sha256, started, finished, status, succeeded, inputs, host, pid,
     named) = row  # fmt: skip
    return RunRecord(
        run_id, key, path, name, sha256, started, finished, status,
        None if succeeded is None else bool(succeeded), loads(inputs), host, pid, named,
    )  # fmt: skip


class RunState(abc.ABC):
    """The run state of one location: a folder (``SQLiteState``) or a PostgreSQL database
    (``PostgresState``). Open one with ``StateLocation.open``."""

    failed: StateWriteError | None  # a write failed: nothing more is recorded
    # How the links in outputs are kept: withheld, or encrypted with SAILJOBS_STATE_KEY.
    sealer: Sealer = Sealer(None)
    migrated: list[int]  # the schema versions applied when it was opened (often none)
    # Scratch space on this machine that survives a crash (split parts, download claims):
    # the state folder itself, or the local .sailjobs/ beside a database.
    scratch_dir: Path

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the state is, for messages: "the state folder X", "the state database Y"."""
        ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> RunState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """The writes inside happen all together or not at all (a crash, a full disk)."""
        ...

    @abc.abstractmethod
    def _execute(self, sql: str, params: tuple[object, ...] = ()) -> int:
        """Run a write; returns the number of rows it changed."""
        ...

    def _fence(self) -> tuple[str, tuple[object, ...]]:
        """A condition (and its parameters) that holds while this run still holds its lock:
        an intent to submit is recorded only under it. A folder's flock cannot be lost
        while its process lives: no condition."""
        return "", ()

    def _lost_lock(self) -> NoReturn:
        """An intent refused by the fence: another run holds the lock now."""
        self.failed = StateUnavailableError(
            f"the run lost its lock in {self.describe()}: another run holds it now; this run "
            "stopped before sending another job, so that two runs never send one"
        )
        raise self.failed

    @abc.abstractmethod
    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        """Rows as the database returns them; each caller casts them to its columns' types."""
        ...

    def shared_budget(self, api_url: str, api_key: str) -> Budget | None:
        """The API budget that every runner of this account shares through the state, or
        None when the state is this machine's alone (the client keeps its own budget)."""
        return None

    # locks ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(
        self,
        key: str,
        manifest_path: Path,
        *,
        timeout: float = 0.0,
        notice: LockNotice | None = None,
    ) -> Iterator[None]:
        """Hold the manifest's run lock inside the block: one run of it at a time, on every
        machine sharing this state. Waits up to ``timeout`` seconds for another run to end
        (``notice`` says who it waits for), then ``LockTimeoutError`` naming the holder."""
        lock = self._run_lock(key, manifest_path)
        lock.acquire(timeout, notice)
        try:
            yield
        finally:
            lock.release()

    @abc.abstractmethod
    def _run_lock(self, key: str, manifest_path: Path) -> RunLock: ...

    @abc.abstractmethod
    def lock_held(self, key: str) -> bool:
        """Whether a live process holds the lock of the manifest ``key`` (is running it)."""
        ...

    # schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self._query("SELECT value FROM meta WHERE key = 'schema'")
        return int(cast(str, row[0][0])) if row else 0

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StateError(
                f"{self.describe()} was written by a newer sailjobs (schema {version}, this "
                f"one knows {SCHEMA_VERSION}); upgrade sailjobs, or use another --state"
            )

    # runs -----------------------------------------------------------------------------

    def _runs(self, where: str, params: tuple[object, ...], limit: int | None) -> list[RunRecord]:
        """Runs, newest first."""
        rows = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs {where} "
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
            "UPDATE runs SET status = 'running', finished_at = NULL, succeeded = NULL, "
            "host = ?, pid = ? WHERE run_id = ?",
            (socket.gethostname(), os.getpid(), run_id),
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
        run_key: str | None = None,
    ) -> float:
        """Record a new run (``run_key``: its ``--run-key``); returns its start time as
        stored (epoch seconds)."""
        now = time.time()
        # ON CONFLICT: a write retried after its answer was lost (a dropped connection).
        self._execute(
            "INSERT INTO runs (run_id, manifest_key, manifest_path, manifest_name, "
            "manifest_sha256, started_at, status, inputs, host, pid, run_key) "
            "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
            (
                run_id, key, str(manifest_path), manifest_name, sha256, now,
                dumps(inputs or {}), socket.gethostname(), os.getpid(), run_key,
            ),
        )  # fmt: skip
        return now

    def reopen_run(self, run_id: str) -> None:
        """The run continues in this process (a resume): its host is this one now."""
        self._execute(
            "UPDATE runs SET status = 'running', host = ?, pid = ? WHERE run_id = ?",
            (socket.gethostname(), os.getpid(), run_id),
        )

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
            opened, withheld = self.sealer.open(json.loads(outputs))
            records[job] = JobRecord(
                run, job, job_type, JobStatus(status), remote_id, remote_status, attempts,
                polls, json.loads(params), intent_at, submitted_at, finished_at,
                opened, error, None if outcome is None else JobStatus(outcome), withheld,
            )  # fmt: skip
        return records

    def last_success(
        self, key: str, job: str, inputs: Mapping[str, JSONValue], run_id: str | None = None
    ) -> JobRecord | None:
        """The job's row in the latest run of the manifest ``key`` with these ``inputs``
        (``--date``, ``--var``s: a backfill never reads today's outputs) where it succeeded
        (its outputs are what a run that does not select it reads), or None. ``run_id``:
        that run only (a saved plan's)."""
        same = dumps(inputs)
        none_given = not any(inputs.values())  # also the runs recorded before inputs were
        row = self._query(
            "SELECT jobs.run_id FROM jobs JOIN runs ON runs.run_id = jobs.run_id "
            "WHERE runs.manifest_key = ? AND jobs.job = ? AND jobs.status = ? "
            + (
                "AND (runs.inputs = ? OR runs.inputs IS NULL) "
                if none_given
                else "AND runs.inputs = ? "
            )
            + ("AND runs.run_id = ? " if run_id else "")
            + "ORDER BY jobs.finished_at DESC, jobs.rowid DESC LIMIT 1",
            (key, job, JobStatus.SUCCEEDED.value, same) + ((run_id,) if run_id else ()),
        )
        return self.jobs(cast(str, row[0][0]))[job] if row else None

    def add_job(self, run_id: str, job: str, job_type: str) -> None:
        self._execute(
            "INSERT INTO jobs (run_id, job, job_type, status) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, job) DO NOTHING",
            (run_id, job, job_type, JobStatus.WAITING.value),
        )

    def record_intent(
        self, run_id: str, job: str, params: Mapping[str, JSONValue], attempts: int
    ) -> float:
        """Committed before the POST: from here on a crash leaves the ambiguous window."""
        now = time.time()
        fence, fenced_by = self._fence()
        changed = self._execute(
            "UPDATE jobs SET status = ?, intent_at = ?, params = ?, attempts = ? "
            "WHERE run_id = ? AND job = ?" + fence,
            (JobStatus.SUBMITTING.value, now, dumps(params), attempts, run_id, job, *fenced_by),
        )
        if fence and not changed:
            self._lost_lock()  # raises: no intent recorded, so no POST
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
                (remote_status, polls, dumps(self.sealer.seal(outputs)), run_id, job),
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
            (
                outcome.value,
                remote_status,
                dumps(self.sealer.seal(outputs)),
                error,
                polls,
                run_id,
                job,
            ),
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
                status.value, dumps(self.sealer.seal(outputs)), error, polls, time.time() if at is None else at,
                None if params is None else dumps(params), run_id, job,
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
            ActionRecord(
                o, ph, i, n, pl, bool(s), a, self.sealer.open(json.loads(out))[0], e, start, end
            )
            for o, ph, i, n, pl, s, a, out, e, start, end in cast(
                list[_ActionRow], self._query(sql, params)
            )
        ]

    def record_action(self, run_id: str, owner: str, record: ActionRecord) -> None:
        self._execute(
            "INSERT INTO actions (run_id, owner, phase, idx, name, plugin, "
            "succeeded, attempts, outputs, error, finished_at, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, owner, phase, idx) DO UPDATE SET name = excluded.name, "
            "plugin = excluded.plugin, succeeded = excluded.succeeded, "
            "attempts = excluded.attempts, outputs = excluded.outputs, error = excluded.error, "
            "finished_at = excluded.finished_at, started_at = excluded.started_at",
            (
                run_id, owner, record.phase, record.idx, record.name, record.plugin,
                int(record.succeeded), record.attempts, dumps(self.sealer.seal(record.outputs)), record.error,
                record.finished_at or time.time(), record.started_at,
            ),
        )  # fmt: skip

    # housekeeping -----------------------------------------------------------------------

    def rekey(self, old: str, new: str) -> None:
        """Runs recorded under ``old`` (sailjobs 0.2's key of a manifest) are ``new``'s:
        an unfinished one still resumes after the upgrade."""
        if old != new:
            self._execute("UPDATE runs SET manifest_key = ? WHERE manifest_key = ?", (new, old))

    def prunable(self, before: float, *, keep: Callable[[RunRecord], bool]) -> list[RunRecord]:
        """The runs ``prune`` deletes (newest first), without deleting them."""
        return [
            run
            for run in self._runs("WHERE started_at < ? AND status = 'finished'", (before,), None)
            if not keep(run)
        ]

    def prune(self, before: float, *, keep: Callable[[RunRecord], bool]) -> list[RunRecord]:
        """Delete the finished runs started before ``before`` (epoch seconds), with their
        jobs, actions and reopenings, except those ``keep`` keeps; returns those deleted.
        An unfinished run is never deleted: it is what a resume continues."""
        gone = self.prunable(before, keep=keep)
        for run in gone:
            with self.transaction():
                for table in ("actions", "jobs", "reopenings", "runs"):
                    self._execute(f"DELETE FROM {table} WHERE run_id = ?", (run.run_id,))
        return gone
