"""What a run shows while it runs: a live table on a terminal, one line per change in CI.

One progress interface, ``RunObserver``: the lifecycle, the scheduler and the job finisher
report every event of a run through the one observer they are given (the run started, a
job's state changed, a job was polled, an action ended, a message, the run finished), and
each event is reported in one place (a job's change where its state changes; a plugin's
hook failure by the hook facade's ``on_failure``, set once in the lifecycle). Chosen over
rendering the console through the plugin hooks because the console needs events no hook
has (polls, retries, warnings before a run exists, the live table's next poll) and a
hook's contract (may raise, reported, never fatal) is wrong for the view that reports
those very failures; hooks stay the extension point, the observer the screen.

``Progress`` is the silent observer (library calls with no view, ``run(progress=None)``)
and the base of the two console views, ``LineProgress`` and ``LiveProgress``, which print
only through ``runner.masking``: a secret, a ``sig`` or an export URL never reaches the
screen; and through ``runner.escaping.printable``: server text cannot start a line or send
an escape sequence. ``quiet`` keeps errors and the final summary; ``verbose`` adds every
poll and the client's retries.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Literal, Protocol

from runner.durations import format_seconds
from runner.escaping import printable
from runner.masking import MaskingFilter, mask
from runner.results import ActionResult, JobResult, JobStatus, RunResult, counts_text

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.text import Text

Level = Literal["info", "note", "warning", "error"]
"""``info``: verbose only; ``note``: shown unless quiet; ``warning``/``error``: prefixed."""

_STATUS_STYLE = {
    JobStatus.WAITING: "dim",
    JobStatus.SUBMITTING: "cyan",
    JobStatus.RUNNING: "blue",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "bold red",
    JobStatus.TIMED_OUT: "bold red",
    JobStatus.SKIPPED: "yellow",
}


def _elapsed(job: JobResult) -> float | None:
    if job.submitted_at is None:
        return None
    end = job.finished_at or datetime.now(UTC)
    return max((end - job.submitted_at).total_seconds(), 0.0)


def _size(job: JobResult) -> str:
    """Rows or bytes once a download (or the API) told us."""
    parts = []
    if (rows := job.rows) is not None:
        parts.append(f"{rows:,} rows")
    if isinstance(size := job.outputs.get("bytes"), int):
        parts.append(f"{size:,} B")
    return ", ".join(parts)


def resume_hint(run: RunResult) -> str:
    """What running the command again does after an interrupt."""
    if run.options.get("sandbox"):
        # The embedded sandbox (and every job it ran) is gone with the process.
        return "the embedded sandbox is gone: running the command again starts over"
    return f"`{run.resume_command()}` resumes it"


def retry_hint(run: RunResult) -> str:
    """The command that submits again what failed; the jobs that may exist at Sailthru
    (ambiguous imports) are named with ``--resubmit``, and their check asked for."""
    ambiguous = [job.id for job in run.failed_jobs if job.ambiguous]
    if not ambiguous:
        return f"  `{run.retry_command()}` submits again only what failed"
    names = ", ".join(ambiguous)
    return (
        f"  `{run.retry_command(*ambiguous)}` submits again what failed, {names} included: "
        f"run it only if the jobs list in Sailthru has no job for {names}"
    )


def jobs_count(count: int) -> str:
    return f"{count} job{'s' * (count != 1)}"


def target(run: RunResult) -> str:
    """Where the run's jobs go: ``sandbox`` (the embedded one), or the API's address; the
    manifest's target by name first (``production (https://api.sailthru.com)``)."""
    where = "sandbox" if run.options.get("sandbox") else str(run.options.get("api_url") or "")
    name = run.options.get("target")
    return f"{name} ({where})" if name and where else str(name or where)


def summary_lines(run: RunResult) -> list[str]:
    """The end-of-run summary: counts, then one line per job that did not succeed, per failed
    action its job's error does not already tell, and per warning.

    The one place that shows each failure's message: the views say that a job or an action
    failed as it happens, and leave the why to this summary (shown once, not three times).
    """
    head = counts_text(job.status.value for job in run.jobs.values())
    verdict = run.status_word
    if run.interrupted:
        verdict += f" ({resume_hint(run)})"
    elif run.options.get("notify_failed"):
        verdict += ", but a notify action failed (exit 1)"  # the jobs' status alone says 0
    lines = [f"run {run.run_id} {verdict}: {head}"]
    for job in run.jobs.values():
        problems = job.problems()  # the job's error first, if it has one
        if job.skipped_by_condition:  # no failure, but told: why it did not run
            lines.append(f"  {job.id}: skipped: {job.error}")
        if problems and job.status is not JobStatus.SUCCEEDED and job.error:
            lines.append(f"  {job.id}: {job.status.value}: {problems.pop(0)}")
        lines.extend(f"  {job.id}: {problem}" for problem in problems)
        lines.extend(f"  {job.id}: warning: {warning}" for warning in job.warnings)
    for action in run.actions:
        if not action.succeeded and action.error:
            lines.append(f"  notify {action.name} ({action.when}): {action.error}")
    if not run.interrupted and run.failed_jobs and not run.options.get("sandbox"):
        lines.append(retry_hint(run))
    return [printable(mask(line)) for line in lines]


# Said once on stderr when the reader of stdout goes away (`sailjobs run m.yaml | head -3`).
# The run goes on rather than stopping: its jobs are real work at Sailthru, already paid
# for in rate limit, and a run that ends as it would have ended leaves nothing to resume.
CLOSED_STDOUT_NOTE = (
    "warning: stdout was closed (its reader exited, e.g. `| head`): the run goes on without "
    "showing its progress; its warnings, errors and summary follow here"
)
_TOLD_WHEN_CLOSED = ("warning", "error")  # the levels that still reach stderr then


def _silence(stream: IO[str]) -> None:
    """Point a closed pipe's file descriptor at /dev/null, so that the interpreter's last
    flush at exit writes nowhere instead of failing with "Exception ignored"."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return  # not a file (a StringIO): nothing flushes it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _tell(errors: IO[str], lines: list[str]) -> None:
    """Lines for stderr; if stderr is gone too, there is no one left to tell."""
    try:
        for line in lines:
            errors.write(line + "\n")
        errors.flush()
    except OSError:
        pass


class RunObserver(Protocol):
    """The one progress interface: every event of a run the executor reports, in order.

    Called from the scheduling loop's thread, except ``message`` (also from the signal
    handler and, through ``log_handler``, from worker threads) and ``close``.
    """

    verbose: bool  # whether library log records at info level (client retries) are shown

    def run_started(self, run: RunResult) -> None:
        """The run is planned, ``run.jobs`` filled; before any job is submitted."""

    def job_changed(self, job: JobResult, note: str = "") -> None:
        """A job's state changed (``job.status``, its remote status), with an optional note."""

    def job_polled(self, job: JobResult, next_poll_in: float) -> None:
        """A running job was polled; the next poll is due in ``next_poll_in`` real seconds."""

    def action_done(self, job: JobResult | None, action: ActionResult) -> None:
        """One action of a job's (``job``) or the run's notify (None) lists ended."""

    def message(self, text: str, level: Level = "info") -> None:
        """A line for the user: a warning, a retry, a plugin's failure, a note."""

    def run_finished(self, run: RunResult) -> None:
        """The run ended (or was interrupted); the summary."""

    def close(self) -> None:
        """Stop drawing (the process is about to exit); may be called more than once."""


class Progress:
    """The silent observer (library calls with no view), and the base of the console views."""

    verbose = False

    def run_started(self, run: RunResult) -> None: ...
    def job_changed(self, job: JobResult, note: str = "") -> None: ...
    def job_polled(self, job: JobResult, next_poll_in: float) -> None: ...
    def action_done(self, job: JobResult | None, action: ActionResult) -> None: ...
    def message(self, text: str, level: Level = "info") -> None: ...
    def run_finished(self, run: RunResult) -> None: ...
    def close(self) -> None: ...

    def log_handler(self) -> logging.Handler:
        """A handler that shows library log records (client retries…) through this view."""
        return log_handler(self)


def log_handler(observer: RunObserver) -> logging.Handler:
    """A handler that shows library log records (client retries…) through ``observer``."""
    handler = _ObserverLogHandler(observer)
    handler.addFilter(MaskingFilter())
    return handler


class _ObserverLogHandler(logging.Handler):
    def __init__(self, observer: RunObserver) -> None:
        super().__init__()
        self.observer = observer

    def emit(self, record: logging.LogRecord) -> None:
        level: Level = "error" if record.levelno >= logging.ERROR else "warning"
        if record.levelno < logging.WARNING:
            level = "info"
        self.observer.message(mask(record.getMessage()), level=level)


class LineProgress(Progress):
    """One line per change of state: for CI logs and pipes."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        quiet: bool = False,
        verbose: bool = False,
        errors: IO[str] | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr  # where the summary goes once stream is closed
        self.quiet = quiet
        self.verbose = verbose
        self._last: dict[str, tuple[JobStatus, str]] = {}
        self._closed = False  # the reader of ``stream`` is gone: output is dropped
        # Re-entrant: the SIGINT handler prints from the main thread, maybe mid-write.
        self._lock = threading.RLock()

    def _emit(self, lines: list[str]) -> None:
        """Write ``lines``; once the reader has gone (a closed pipe), drop them."""
        with self._lock:
            if self._closed:
                return
            try:
                for line in lines:
                    self.stream.write(line + "\n")
                self.stream.flush()
            except BrokenPipeError:
                self._closed = True
                _silence(self.stream)
                _tell(self.errors, [CLOSED_STDOUT_NOTE])

    def _write(self, text: str) -> None:
        self._emit([f"{time.strftime('%H:%M:%S')} {printable(mask(text))}"])

    def run_started(self, run: RunResult) -> None:
        if not self.quiet:
            on = f" on {run.options['target']}" if run.options.get("target") else ""
            day = f" for {run.logical_date}" if run.logical_date else ""
            self._write(
                f"run {run.run_id}: {run.manifest_name} ({jobs_count(len(run.jobs))}){on}{day}"
            )

    def job_changed(self, job: JobResult, note: str = "") -> None:
        key = (job.status, note)
        if self._last.get(job.id) == key:
            return
        first = job.id not in self._last
        self._last[job.id] = key
        if first and job.status is JobStatus.WAITING and not self.verbose:
            return
        failed = job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT)
        if self.quiet and not failed:
            return
        parts = [f"{job.id}: {note or job.status.value}"]
        if job.remote_job_id and job.status in (JobStatus.RUNNING, JobStatus.SUBMITTING):
            parts.append(f"job_id {job.remote_job_id}")
        if job.status.is_terminal:
            elapsed = format_seconds(_elapsed(job))
            if elapsed:
                parts.append(elapsed)
            if _size(job):
                parts.append(_size(job))
            # The error itself is in the summary at the end: each failure is told once.
            if job.skipped_by_condition and self.verbose:
                parts.append(str(job.error))
        self._write(" · ".join(parts))

    def job_polled(self, job: JobResult, next_poll_in: float) -> None:
        if self.verbose:
            self._write(
                f"{job.id}: {job.remote_status or 'unknown'} (poll {job.polls}; "
                f"next in {next_poll_in:.1f}s)"
            )

    def action_done(self, job: JobResult | None, action: ActionResult) -> None:
        if self.quiet and action.succeeded:
            return
        owner = job.id if job is not None else "notify"
        if action.skipped:
            verdict = f"skipped, {action.skipped}"
        elif action.resumed:
            verdict = "already done"
        elif action.succeeded:
            verdict = "done"
        else:
            verdict = "failed"  # why: in the summary (see summary_lines)
        details = ""
        if action.succeeded and action.outputs.get("path"):
            details = f" → {action.outputs['path']}"
        self._write(f"{owner}: {action.name} {verdict}{details}")

    def message(self, text: str, level: Level = "info") -> None:
        """``info``: verbose only; ``note``: shown unless quiet; ``warning``/``error``: prefixed."""
        if level == "info" and not self.verbose:
            return
        if self.quiet and level != "error":
            return
        prefix = "" if level in ("info", "note") else f"{level}: "
        with self._lock:
            self._write(f"{prefix}{text}")
            if self._closed and level in _TOLD_WHEN_CLOSED:
                _tell(self.errors, [printable(mask(f"{prefix}{text}"))])

    def run_finished(self, run: RunResult) -> None:
        with self._lock:
            self._emit(summary_lines(run))
            if self._closed:
                _tell(self.errors, summary_lines(run))


# The live table's columns; a terminal narrower than a column's entry here leaves it out.
_COLUMNS = ("job", "type", "job_id", "status", "elapsed", "next poll", "size", "detail")
_SHOWN_FROM = {"type": 160, "job_id": 100, "next poll": 90}
# Never cut nor wrapped: a status, a time, a job_id (``sailjobs status`` takes it whole).
_WHOLE = ("job_id", "status", "elapsed", "next poll")
# What the whole columns leave to the others (job, size, detail), or the job_id gives way.
_ROOM_FOR_THE_REST = 30


def _cell_width(cell: str | Text) -> int:
    from rich.cells import cell_len

    return cell_len(cell if isinstance(cell, str) else cell.plain)


def _fits_whole(columns: list[str], rows: list[dict[str, str | Text]], width: int) -> bool:
    """Whether the whole columns, at their widest cell, leave the others room enough."""
    whole = sum(
        max([len(column), *(_cell_width(row[column]) for row in rows)])
        for column in columns
        if column in _WHOLE
    )
    gaps = 2 * (len(columns) - 1)  # a space either side of each column but the edges
    return width - whole - gaps >= _ROOM_FOR_THE_REST


def _short_path(path: str) -> str:
    """A file's path as the user would type it here: relative to the working folder when
    that is shorter (``../exports/a.csv``), else as given."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return relative if len(relative) < len(path) else path


def terminal_console(
    errors: IO[str] | None = None,
    *,
    file: IO[str] | None = None,
    force_terminal: bool | None = None,
    width: int | None = None,
) -> Console:
    """A rich console that stops drawing when its terminal or pipe goes away (and says so
    once on ``errors``), where rich's own answer is to exit the process, jobs in flight."""
    from rich.console import Console

    class _TerminalConsole(Console):
        closed = False  # the reader is gone: nothing is drawn any more

        def on_broken_pipe(self) -> None:
            self.quiet, self.closed = True, True
            _silence(self.file)
            _tell(errors or sys.stderr, [CLOSED_STDOUT_NOTE])

    return _TerminalConsole(file=file, force_terminal=force_terminal, width=width)


class LiveProgress(Progress):
    """A rich live table of every job, refreshed a few times a second (terminals)."""

    MAX_ROWS = 40  # beyond this, the table shows the active jobs and a count of the rest

    def __init__(
        self,
        *,
        quiet: bool = False,
        verbose: bool = False,
        console: Console | None = None,
        errors: IO[str] | None = None,
    ) -> None:
        from rich.live import Live

        self.quiet = quiet
        self.verbose = verbose
        self.errors = errors or sys.stderr  # where the summary goes once the terminal is gone
        self.console = console or terminal_console(self.errors)
        self._run: RunResult | None = None
        self._notes: dict[str, str] = {}
        self._paths: dict[str, list[str]] = {}  # files the job's actions wrote (downloads)
        self._next_poll: dict[str, float] = {}
        self._ended = False  # the summary below the table tells every failure's message
        # Re-entrant: the SIGINT handler prints from the main thread, maybe mid-write.
        self._lock = threading.RLock()
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def _render(self) -> RenderableType:
        # Called by rich's refresh thread, holding rich's lock, while the loop thread updates
        # the notes and polls: it only reads them with .get (no lock of ours, so a Ctrl-C
        # message printed from the main thread can never wait on a drawing that waits on us).
        from rich.console import Group
        from rich.text import Text

        run = self._run
        if run is None:
            return self._table()
        done = sum(1 for job in run.jobs.values() if job.status.is_terminal)
        where = [target(run)] if target(run) else []
        header = " · ".join(
            ["sailjobs", f"{run.manifest_name} ({run.manifest_path})", f"run {run.run_id}",
             *where, f"{done}/{len(run.jobs)} done"]
        )  # fmt: skip
        return Group(
            Text(mask(header), style="bold", no_wrap=True, overflow="ellipsis"), self._table()
        )

    def _detail(self, job: JobResult) -> str:
        """The error or the last note while running. The files written are listed under the
        summary, each on a line of its own: a cell would wrap a path mid-name."""
        return job.error or self._notes.get(job.id, "")

    def _files_lines(self, run: RunResult) -> list[str]:
        return [
            printable(mask(f"  {job_id} → {_short_path(path)}"))
            for job_id in run.jobs
            for path in self._paths.get(job_id, ())
        ]

    def _table(self) -> RenderableType:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        width = self.console.width
        # Once the run ended nothing is polled, and the summary below tells the details.
        gone = {"next poll", "detail"} if self._ended else set()
        columns = [c for c in _COLUMNS if width >= _SHOWN_FROM.get(c, 0) and c not in gone]
        rows = self._rows()
        if "job_id" in columns and not _fits_whole(columns, rows, width):
            columns.remove("job_id")  # a job_id cut short is of no use: none at all
        for column in columns:
            # Status, times and job ids stay whole; names are cut short (…), the rest wraps.
            table.add_column(
                column,
                no_wrap=column in _WHOLE,
                overflow="fold" if column == "detail" else "ellipsis",
                ratio=1 if column == "detail" else None,
            )
        for cells in rows:
            table.add_row(*(cells[column] for column in columns))
        return table

    def _rows(self) -> list[dict[str, str | Text]]:
        """Each job's cells by column, then a row counting the jobs left out, if any."""
        from rich.text import Text

        run = self._run
        if run is None:
            return []
        jobs = list(run.jobs.values())
        if len(jobs) > self.MAX_ROWS:
            active = [job for job in jobs if not job.status.is_terminal][: self.MAX_ROWS]
            hidden = len(jobs) - len(active)
            jobs = active
        else:
            hidden = 0
        now = time.monotonic()
        rows: list[dict[str, str | Text]] = []
        for job in jobs:
            next_poll = ""
            due = self._next_poll.get(job.id)
            if job.status is JobStatus.RUNNING and due is not None:
                next_poll = f"{max(due - now, 0):.0f}s"
            cells: dict[str, str | Text] = {
                "job": job.id,
                "type": job.job_type,
                "job_id": job.remote_job_id or "",
                "status": Text(job.status.value, style=_STATUS_STYLE.get(job.status, "")),
                "elapsed": format_seconds(_elapsed(job)),
                "next poll": next_poll,
                "size": _size(job),
                "detail": printable(mask(self._detail(job))),
            }
            rows.append(cells)
        if hidden:
            done = sum(1 for job in run.jobs.values() if job.status.is_terminal)
            more: dict[str, str | Text] = {column: "" for column in _COLUMNS}
            more["job"] = f"… {hidden} more ({done} finished)"
            rows.append(more)
        return rows

    def run_started(self, run: RunResult) -> None:
        self._run = run
        self._live.start()

    def job_changed(self, job: JobResult, note: str = "") -> None:
        with self._lock:
            if note:
                self._notes[job.id] = note
            else:
                self._notes.pop(job.id, None)
            if job.status.is_terminal:
                self._next_poll.pop(job.id, None)

    def job_polled(self, job: JobResult, next_poll_in: float) -> None:
        with self._lock:
            self._next_poll[job.id] = time.monotonic() + next_poll_in

    def action_done(self, job: JobResult | None, action: ActionResult) -> None:
        # A failure is not printed above the table: its row says so, the summary says why.
        if job is not None:
            with self._lock:
                state = "done" if action.succeeded else "failed"
                state = "skipped" if action.skipped else state
                self._notes[job.id] = f"{action.name} {state}"
                if action.succeeded and action.outputs.get("path"):
                    self._paths.setdefault(job.id, []).append(str(action.outputs["path"]))

    def message(self, text: str, level: Level = "info") -> None:
        if level == "info" and not self.verbose:
            return
        if self.quiet and level != "error":
            return
        style = {"error": "red", "warning": "yellow", "note": ""}.get(level, "dim")
        self.console.print(printable(mask(text)), style=style, markup=False, highlight=False)
        if getattr(self.console, "closed", False) and level in _TOLD_WHEN_CLOSED:
            _tell(self.errors, [printable(mask(f"{level}: {text}"))])

    def run_finished(self, run: RunResult) -> None:
        self._ended = True
        self._live.refresh()
        self.close()
        lines = summary_lines(run) + self._files_lines(run)
        for line in lines:
            # soft_wrap: a long path is wrapped by the terminal, never broken by a newline.
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        if getattr(self.console, "closed", False):
            _tell(self.errors, lines)

    def close(self) -> None:
        if self._live.is_started:
            self._live.stop()


def make_progress(
    *, quiet: bool = False, verbose: bool = False, tty: bool | None = None
) -> Progress:
    """The live view on a terminal, lines otherwise (``tty`` overrides the detection);
    ``quiet`` always prints lines: failures and the summary, nothing redrawn."""
    if tty is None:
        tty = sys.stdout.isatty()
    if tty and not quiet:
        return LiveProgress(quiet=quiet, verbose=verbose)
    return LineProgress(quiet=quiet, verbose=verbose)
