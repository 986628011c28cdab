"""``Sandbox``: the threaded HTTP server, its data, its job workers; start, stop, inspect.

``seed`` is ``"demo"`` (the built-in data), a seed file's path (YAML or CSV, checked when the
Sandbox is made: ``SeedFileError`` lists its problems), or None (empty).

with Sandbox(seed="demo", job_time=0.2) as sb:
    client = SailthruClient(sb.api_key, sb.secret, sb.url)
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from runner.masking import register_secret
from runner.plugins import sandbox_job_kinds
from runner.sandbox.app import SandboxApp
from runner.sandbox.faults import Faults
from runner.sandbox.jobs import JobEnv, JobKind, JobManager, JobRecord, JobTime
from runner.sandbox.notify import Mailer, report_message, send_postback
from runner.sandbox.ratelimit import RateLimiter
from runner.sandbox.seed import resolve_seed
from runner.sandbox.seed import seed as load_seed
from runner.sandbox.seedfile import SeedData
from runner.sandbox.store import Store

log = logging.getLogger("runner.sandbox")

MAX_UPLOAD = 1024**3  # 1 GB, the API's limit
DEFAULT_EXPORT_TTL = 2 * 3600.0


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the sandbox keeps ``request_log``); HTTP/1.1 answers."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("sandbox http: " + format, *args)


def parse_smtp(smtp: str | tuple[str, int] | None) -> tuple[str, int] | None:
    """``"HOST:PORT"`` or ``(host, port)`` as a pair; ValueError for anything else."""
    if smtp is None or isinstance(smtp, tuple):
        return smtp
    host, sep, port = smtp.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"SMTP server must be HOST:PORT, got {smtp!r}")
    return host.strip("[]"), int(port)


def job_kinds() -> dict[str, JobKind]:
    """Every job kind registered through ``sailjobs_sandbox_job_kinds``, the built-ins'
    and the plugins' alike."""
    return sandbox_job_kinds(JobKind)


class Sandbox:
    """A Sailthru-compatible job API on loopback. Not started until ``start()`` (or ``with``)."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        api_key: str = "sandbox-key",
        secret: str = "sandbox-secret",
        seed: str | os.PathLike[str] | SeedData | None = "demo",
        job_time: JobTime = 2.0,
        rate_limits: dict[str, int] | None = None,
        rate_window: int = 60,
        export_ttl: float = DEFAULT_EXPORT_TTL,
        smtp: str | tuple[str, int] | None = None,
        faults: Faults | None = None,
        max_upload: int = MAX_UPLOAD,
    ) -> None:
        self.api_key = api_key
        self.secret = secret
        # A seed file is read and checked here (SeedFileError): a bad one never starts.
        self.seed = resolve_seed(seed)
        self.seeded = False  # True once the seed went into the store (not into kept data)
        self.job_time = job_time
        self.export_ttl = export_ttl
        self.max_upload = max_upload
        self.faults = faults if faults is not None else Faults()
        self.limiter = RateLimiter(rate_limits, window=rate_window)
        self._mailer = Mailer(parse_smtp(smtp))
        self._given_data_dir = Path(data_dir) if data_dir is not None else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self.data_dir: Path | None = None
        self.url = ""
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._jobs: JobManager | None = None
        self._app: SandboxApp | None = None
        self.job_kinds: dict[str, JobKind] = {}  # by job type, once started

    def __repr__(self) -> str:
        state = self.url or "stopped"
        return f"<Sandbox {state} api_key={self.api_key!r}>"

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        register_secret(self.secret)
        if self._given_data_dir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="sailjobs-sandbox-")
            self.data_dir = Path(self._tempdir.name)
        else:
            self.data_dir = self._given_data_dir
            self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start(host, port)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, host: str, port: int) -> None:
        assert self.data_dir is not None
        self._store = Store(self.data_dir / "sandbox.sqlite3")
        self.job_kinds = job_kinds()
        for kind in self.job_kinds.values():
            if kind.schema:
                self._store.add_schema(kind.schema)
        if self.seed:
            self.seeded = load_seed(self._store, self.seed)
        env = JobEnv(
            self._store, self.data_dir, self.upload_dir, self.data_dir / "exports", self.max_upload
        )
        self._jobs = JobManager(
            env, self.job_kinds, self.faults, self.job_time, self.export_ttl, self._job_finished
        )
        self._app = SandboxApp(self, self._jobs, self.limiter, self.faults)
        # Bound here so that a port in use raises OSError (werkzeug would print and exit).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.create_server((host, port), family=family, backlog=128) as listener:
            self._server = make_server(
                host,
                port,
                self._app,
                threaded=True,
                request_handler=_QuietHandler,
                fd=listener.fileno(),
            )
        display_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{display_host}:{self._server.port}"
        self._jobs.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="sandbox-http",
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, stop the workers, close the data; idempotent."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._jobs is not None:
            self._jobs.stop()
            self._jobs = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        self.url = ""

    def __enter__(self) -> Sandbox:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests and the app read ------------------------------------------------------
    @property
    def upload_dir(self) -> Path:
        assert self.data_dir is not None, "the sandbox is not started"
        return self.data_dir / "uploads"

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        """``(method, path, http_status)`` of every request that reached the app (0: dropped)."""
        return self._app.request_log if self._app is not None else []

    @property
    def outbox(self) -> list[EmailMessage]:
        """Report emails kept because no SMTP server was given."""
        return self._mailer.outbox

    def submissions(self, job_type: str | None = None) -> list[dict[str, Any]]:
        """The payload of every job accepted by POST /job, oldest first."""
        return self._running_jobs().submissions(job_type)

    def expire_exports(self) -> None:
        """Every export link expires now: GET /job says ``expired``, the URL answers 404."""
        self._running_jobs().expire_exports()

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A job as GET /job shows it (no request counted), or None."""
        jobs = self._running_jobs()
        record = jobs.load(job_id)
        return jobs.describe(record, self.url) if record else None

    def settings(self) -> dict[str, Any]:
        """The minimal GET /settings answer, for clients that check credentials first."""
        return {
            "domain": "sandbox.invalid",
            "from_emails": ["jobs@sandbox.invalid"],
            "timezone": "UTC",
            "sandbox": True,
        }

    def _running_jobs(self) -> JobManager:
        if self._jobs is None:
            raise RuntimeError("the sandbox is not running")
        return self._jobs

    def _job_finished(self, record: JobRecord) -> None:
        payload = record.payload
        postback_url = payload.get("postback_url")
        report_email = payload.get("report_email")
        if not postback_url and not report_email:
            return
        fields = self._running_jobs().describe(record, self.url)
        if isinstance(postback_url, str) and postback_url:
            send_postback(postback_url, fields, self.api_key, self.secret)
        if isinstance(report_email, str) and report_email:
            try:
                message = report_message(report_email, fields)
            except ValueError:  # not usable as a To header (a line break in it)
                log.warning("report_email %r is not an email address; no report sent", report_email)
                return
            self._mailer.send(message)
