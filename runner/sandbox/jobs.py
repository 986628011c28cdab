"""The job queue: POST /job validates and queues, worker threads run jobs to a terminal status.

A job is ``pending`` (queued, a quarter of its time), ``running`` (the work, then the rest of
its time), then ``completed`` or ``error`` (or ``incomplete``, a fault on demand). The time a
job takes is kept by a timer thread, not by a sleeping worker, so a thousand jobs can be in
flight at once; a small pool of worker threads does the actual work (SQL, files, notices). At most five imports run at once, as on
the real API; the others wait in ``pending``. Jobs live in SQLite, so a sandbox restarted on the
same data directory resumes them.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.sandbox import errors
from runner.sandbox.errors import ApiError, api_error
from runner.sandbox.faults import (
    INCOMPLETE_MESSAGE,
    JOB_ERROR,
    JOB_INCOMPLETE,
    JOB_STUCK,
    Faults,
)
from runner.sandbox.store import Store, new_object_id, rfc2822
from runner.sandbox.wire import Upload, remove_quietly

log = logging.getLogger("runner.sandbox")

IMPORT_POOL = "import"
EXPORT_POOL = "export"
MAX_RUNNING_IMPORTS = 5
WORKERS = 4
# The statuses a job ends in; "incomplete" is named by the seed ("a job terminates without
# successful completion") and only happens here as an injected fault.
FAILED_STATUSES = ("error", "incomplete")
JobTime = float | Callable[[dict[str, Any]], float]  # seconds, or seconds for a payload
PENDING_SHARE = 0.25  # of a job's time spent queued before it runs
ROWS_PER_JOB_TIME = 1_000_000  # a job of this many rows takes twice its base time


class JobFailed(Exception):
    """A job ends in status ``error`` with this message (bad input found while running)."""


class JobIncomplete(Exception):
    """A job ends in status ``incomplete`` with this message (an injected fault)."""


class JobAborted(Exception):
    """The sandbox is stopping: the job stays ``running`` in the data (its upload kept) and
    runs again from the start when a sandbox restarts on the same data directory."""


@dataclass
class JobRecord:
    job_id: str
    job: str
    name: str
    status: str
    payload: dict[str, Any]
    upload_path: str | None
    create_time: float
    start_time: float | None
    end_time: float | None
    result: dict[str, Any]
    error_message: str | None
    export_path: str | None
    export_token: str | None
    export_expires: float | None
    fault: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> JobRecord:
        values = list(row)
        values[4] = json.loads(values[4])
        values[9] = json.loads(values[9])
        return cls(*values)


COLUMNS = (
    "job_id, job, name, status, payload, upload_path, create_time, start_time, end_time,"
    " result, error_message, export_path, export_token, export_expires, fault"
)


@dataclass
class Accepted:
    """What a job kind's ``validate`` returns: the job's name and its fields (``list``…)."""

    name: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a job kind's ``run`` returns: result fields, rows handled, an export file."""

    fields: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    export_path: Path | None = None


@dataclass
class JobEnv:
    """What job kinds need from the sandbox."""

    store: Store
    data_dir: Path
    upload_dir: Path
    export_dir: Path
    max_upload: int = 1024**3  # bytes of an uploaded file or of an import's ``url``
    stopping: threading.Event = field(default_factory=threading.Event)

    def check_stopping(self) -> None:
        """Raise JobAborted once the sandbox is stopping (long jobs call it between batches)."""
        if self.stopping.is_set():
            raise JobAborted()


class JobKind(ABC):
    """One job type of the API: its checks at POST time and its work in a worker."""

    job: str = ""
    pool: str = EXPORT_POOL
    # Tables of its own, created when the sandbox starts (``CREATE TABLE IF NOT EXISTS``;
    # the account's data, lists, users and the rest, is runner/sandbox/store.py's).
    schema: str = ""

    @abstractmethod
    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        """Check a POST's payload; raise the API's error, or return what to store."""

    @abstractmethod
    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        """Do the job in a worker thread; return its outcome (completed or error)."""

    def answer_fields(self, record: JobRecord) -> dict[str, Any]:
        """Fields a GET answer shows for a job of this kind besides its result's."""
        return {}


class JobManager:
    """Accepts, stores, runs and describes jobs."""

    def __init__(
        self,
        env: JobEnv,
        kinds: dict[str, JobKind],
        faults: Faults,
        job_time: JobTime,
        export_ttl: float,
        on_finished: Callable[[JobRecord], None],
    ) -> None:
        self.env = env
        self.kinds = kinds
        self.faults = faults
        self.job_time = job_time
        self.export_ttl = export_ttl
        self._on_finished = on_finished
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_order = itertools.count()
        self._timer_wakeup = threading.Condition()
        self._imports_lock = threading.Lock()
        self._running_imports = 0
        self._waiting_imports: deque[str] = deque()
        self._stopping = env.stopping  # running jobs see it too, and end early
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        targets = [("timer", self._timer_loop)]
        targets += [(f"worker-{index}", self._worker_loop) for index in range(WORKERS)]
        for name, target in targets:
            thread = threading.Thread(target=target, name=f"sandbox-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._resume_unfinished()

    def stop(self) -> None:
        self._stopping.set()
        with self._timer_wakeup:
            self._timer_wakeup.notify_all()
        for _ in range(WORKERS):
            self._tasks.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def _resume_unfinished(self) -> None:
        """Jobs left pending or running by an earlier process run again."""
        with self.env.store.connect() as db:
            rows = db.execute(
                "SELECT job_id, job FROM jobs WHERE status IN ('pending', 'running')"
                " AND (fault IS NULL OR fault != ?) ORDER BY create_time",
                (JOB_STUCK,),
            ).fetchall()
            db.execute(
                "UPDATE jobs SET status = 'pending', start_time = NULL WHERE status = 'running'"
            )
        for job_id, job in rows:
            if job in self.kinds:
                self._tasks.put(functools.partial(self._ready, job_id))

    def seconds_for(self, payload: dict[str, Any]) -> float:
        """The base time of a job (before scaling with its size)."""
        seconds = self.job_time(payload) if callable(self.job_time) else self.job_time
        return max(0.0, float(seconds))

    # -- POST and GET -------------------------------------------------------------------
    def submit(self, payload: Any, upload: Upload | None) -> dict[str, Any]:
        """Validate a POST /job payload and queue the job; the API's answer."""
        if not isinstance(payload, dict) or payload.get("job") in (None, ""):
            raise api_error(errors.MISSING_JOB)
        job = payload["job"]
        kind = self.kinds.get(job) if isinstance(job, str) else None
        if kind is None:
            raise api_error(errors.UNKNOWN_JOB_TYPE, job=job)
        accepted = kind.validate(payload, upload, self.env)
        fault_rule = (
            self.faults.take(JOB_STUCK)
            or self.faults.take(JOB_ERROR)
            or self.faults.take(JOB_INCOMPLETE)
        )
        fault = fault_rule.kind if fault_rule else None
        job_id = new_object_id()
        with self.env.store.connect() as db:
            db.execute(
                "INSERT INTO jobs (job_id, job, name, status, payload, upload_path, create_time,"
                " result, fault) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                (
                    job_id,
                    job,
                    accepted.name,
                    json.dumps(payload),
                    str(upload.path) if upload else None,
                    time.time(),
                    json.dumps(accepted.fields),
                    fault,
                ),
            )
        if fault != JOB_STUCK:
            delay = self.seconds_for(payload) * PENDING_SHARE
            self._after(delay, lambda: self._ready(job_id))
        return {"job_id": job_id, "name": accepted.name, **accepted.fields, "status": "pending"}

    def load(self, job_id: str) -> JobRecord | None:
        with self.env.store.connect() as db:
            row = db.execute(f"SELECT {COLUMNS} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return JobRecord.from_row(row) if row else None

    def get(self, payload: Any, base_url: str) -> dict[str, Any]:
        """The API's answer to GET /job."""
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        if job_id in (None, ""):
            raise api_error(errors.MISSING_JOB_ID)
        record = self.load(str(job_id))
        if record is None:
            raise api_error(errors.JOB_NOT_FOUND, job_id=job_id)
        return self.describe(record, base_url)

    def describe(self, record: JobRecord, base_url: str) -> dict[str, Any]:
        """A job's fields as GET /job shows them (and as the postback sends them)."""
        answer: dict[str, Any] = {"job_id": record.job_id, "name": record.name}
        fields = dict(record.result)
        export_fields = {k: fields.pop(k) for k in ("filename",) if k in fields}
        answer.update(fields)
        # Echoed as the seed's GET example does: null when the POST did not give them.
        answer["report_email"] = record.payload.get("report_email")
        answer["postback_url"] = record.payload.get("postback_url")
        kind = self.kinds.get(record.job)  # None: a kind no longer registered (kept data)
        if kind is not None:
            answer.update(kind.answer_fields(record))
        answer["status"] = record.status
        if record.start_time is not None:
            answer["start_time"] = rfc2822(record.start_time)
        if record.end_time is not None:
            answer["end_time"] = rfc2822(record.end_time)
        if record.status in FAILED_STATUSES and record.error_message:
            answer["error_message"] = record.error_message
        if record.status == "completed" and record.export_token:
            answer.update(export_fields)
            if self.is_expired(record):
                remove_quietly(record.export_path)
                answer["expired"] = True
            else:
                answer["export_url"] = export_url(base_url, record)
        return answer

    def submissions(self, job_type: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT payload FROM jobs"
        args: tuple[str, ...] = ()
        if job_type is not None:
            query += " WHERE job = ?"
            args = (job_type,)
        with self.env.store.connect() as db:
            rows = db.execute(query + " ORDER BY create_time, rowid", args).fetchall()
        return [json.loads(row[0]) for row in rows]

    # -- exports ------------------------------------------------------------------------
    def is_expired(self, record: JobRecord) -> bool:
        return record.export_expires is not None and time.time() >= record.export_expires

    def export_by_token(self, token: str) -> JobRecord | None:
        with self.env.store.connect() as db:
            row = db.execute(
                f"SELECT {COLUMNS} FROM jobs WHERE export_token = ?", (token,)
            ).fetchone()
        return JobRecord.from_row(row) if row else None

    def expire_exports(self) -> None:
        """Every export link expires now (its file is deleted)."""
        now = time.time()
        with self.env.store.connect() as db:
            paths = db.execute(
                "SELECT export_path FROM jobs WHERE export_path IS NOT NULL"
            ).fetchall()
            db.execute(
                "UPDATE jobs SET export_expires = ? WHERE export_token IS NOT NULL"
                " AND (export_expires IS NULL OR export_expires > ?)",
                (now, now),
            )
        for (path,) in paths:
            remove_quietly(path)

    def _sweep_expired_exports(self) -> None:
        """Files of expired links are deleted (a long-running sandbox does not fill the disk)."""
        with self.env.store.connect() as db:
            rows = db.execute(
                "SELECT job_id, export_path FROM jobs WHERE export_path IS NOT NULL"
                " AND export_expires <= ?",
                (time.time(),),
            ).fetchall()
            db.executemany(
                "UPDATE jobs SET export_path = NULL WHERE job_id = ?", [(row[0],) for row in rows]
            )
        for _, path in rows:
            remove_quietly(path)

    # -- timer and workers --------------------------------------------------------------
    def _after(self, delay: float, task: Callable[[], None]) -> None:
        """Hand ``task`` to a worker ``delay`` seconds from now."""
        if delay <= 0:
            self._tasks.put(task)
            return
        with self._timer_wakeup:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_order), task))
            self._timer_wakeup.notify()

    def _timer_loop(self) -> None:
        with self._timer_wakeup:
            while not self._stopping.is_set():
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    self._tasks.put(heapq.heappop(self._timers)[2])
                timeout = self._timers[0][0] - now if self._timers else None
                self._timer_wakeup.wait(timeout)

    def _worker_loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None or self._stopping.is_set():
                return
            try:
                task()
            except Exception:  # a bug in a job kind must not kill the worker
                log.exception("sandbox job task crashed")

    def _ready(self, job_id: str) -> None:
        """A job leaves the queue: it runs, unless five imports already do."""
        record = self.load(job_id)
        if record is None or record.status not in ("pending", "running"):
            return
        if self.kinds[record.job].pool == IMPORT_POOL:
            with self._imports_lock:
                if self._running_imports >= MAX_RUNNING_IMPORTS:
                    self._waiting_imports.append(job_id)
                    return
                self._running_imports += 1
        self._run(record)

    def _release_import_slot(self) -> None:
        with self._imports_lock:
            if self._waiting_imports:
                next_id = self._waiting_imports.popleft()  # the slot passes to it
            else:
                self._running_imports -= 1
                return
        record = self.load(next_id)
        if record is None:
            self._release_import_slot()
        else:
            self._tasks.put(lambda: self._run(record))

    def _run(self, record: JobRecord) -> None:
        started_clock, started = time.monotonic(), time.time()
        self._set(record.job_id, status="running", start_time=started)
        kind = self.kinds[record.job]
        status, message, outcome = "completed", None, Outcome()
        try:
            if record.fault == JOB_ERROR:
                raise JobFailed("The job failed (injected fault)")
            if record.fault == JOB_INCOMPLETE:
                raise JobIncomplete(INCOMPLETE_MESSAGE)
            outcome = kind.run(record, self.env)
        except JobAborted:
            return
        except JobIncomplete as stopped:
            status, message = "incomplete", str(stopped)
        except JobFailed as failure:
            status, message = "error", str(failure)
        except ApiError as failure:
            status, message = "error", failure.message
        except Exception:
            log.exception("sandbox job %s (%s) crashed", record.job_id, record.job)
            status, message = "error", "Internal error"
        remove_quietly(record.upload_path)
        base = self.seconds_for(record.payload)
        duration = base * (1 - PENDING_SHARE) * (1 + outcome.rows / ROWS_PER_JOB_TIME)
        remaining = started_clock + duration - time.monotonic()
        self._after(remaining, lambda: self._finish(record, status, message, outcome))

    def _finish(
        self, record: JobRecord, status: str, message: str | None, outcome: Outcome
    ) -> None:
        updates: dict[str, Any] = {"status": status, "end_time": time.time()}
        if message:
            updates["error_message"] = message
        if outcome.fields:
            updates["result"] = json.dumps({**record.result, **outcome.fields})
        if status == "completed" and outcome.export_path is not None:
            early = self.faults.early_expiry
            ttl = early if early is not None else self.export_ttl
            updates["export_path"] = str(outcome.export_path)
            updates["export_token"] = outcome.export_path.stem
            updates["export_expires"] = updates["end_time"] + ttl
        elif outcome.export_path is not None:
            remove_quietly(outcome.export_path)
        self._set(record.job_id, **updates)
        self._sweep_expired_exports()
        if self.kinds[record.job].pool == IMPORT_POOL:
            self._release_import_slot()
        finished = self.load(record.job_id)
        if finished is not None:
            self._on_finished(finished)

    def _set(self, job_id: str, **values: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self.env.store.connect() as db:
            db.execute(
                f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*values.values(), job_id)
            )


def export_url(base_url: str, record: JobRecord) -> str:
    """An unguessable storage-like URL: ``/export/YYYY/MM/DD/<32 hex>``."""
    day = time.gmtime(record.end_time or record.create_time)
    return f"{base_url}/export/{day.tm_year:04d}/{day.tm_mon:02d}/{day.tm_mday:02d}/{record.export_token}"
