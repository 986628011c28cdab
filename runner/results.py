"""What a run produces: the objects every hook, report and renderer receives.

One result object per hook call (not loose arguments), so a hook can grow a field
without breaking the plugins that implement it.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    """A manifest job's state in a run (not the remote Sailthru status, see ``remote_status``)."""

    WAITING = "waiting"  # its needs are not done yet
    SUBMITTING = "submitting"  # the POST is being sent (intent recorded)
    RUNNING = "running"  # submitted; polling until a terminal remote status
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  # past its timeout; the remote job may still be running
    # a job it needs did not succeed (or fail_fast stopped the run), or its ``if:`` was
    # false (``skipped_by_condition``: that fails nothing)
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.SKIPPED}
)


# How the reason of a job skipped by a condition starts: its own ``if:`` was false, or that
# of a job it needs. Such a skip is what the manifest asked for: it fails nothing.
CONDITION_SKIP_PREFIX = "if: "


def skipped_by_condition(status: JobStatus, error: str | None) -> bool:
    """Whether a job was skipped by an ``if:`` (its own or a needed job's), not by a failure."""
    return status is JobStatus.SKIPPED and (error or "").startswith(CONDITION_SKIP_PREFIX)


@dataclass
class ActionResult:
    """One action of a job's or the run's action lists (``download``, ``email``, …)."""

    name: str  # the action type, e.g. "download"
    plugin: str  # the plugin that provides it
    when: str  # "on_success" | "on_failure" | "always"
    index: int  # position in its list, with ``when`` the action's identity in the run state
    succeeded: bool = False
    attempts: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    resumed: bool = False  # done in an earlier process of this run; not repeated
    skipped: str | None = None  # why it did not run: its ``if:`` was false
    # When it ran (the run's timeline); None when resumed or read back from the run state.
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def describe(self) -> str:
        """``action 'x' (on_success #1)``; an action from an installed plugin names the plugin."""
        plugin = self.plugin
        obvious = plugin.startswith("runner.builtin.") or plugin in ("?", self.name)
        source = "" if obvious else f" of plugin {plugin!r}"
        return f"action {self.name!r}{source} ({self.when} #{self.index + 1})"

    def describe_failure(self) -> str:
        """How a job's error names this action when the action failed the job."""
        return f"{self.describe()} failed: "

    def failed_in(self, error: str) -> bool:
        """Whether a job's ``error`` says this action failed it (by its name and place:
        the plugin's name may be told differently once read back)."""
        named = error.find(f"action {self.name!r}")
        return named >= 0 and f"({self.when} #{self.index + 1}) failed: " in error[named:]


@dataclass
class JobResult:
    """Everything known about one manifest job at the end of its run (or of its skip)."""

    run_id: str
    id: str  # the manifest's job id, e.g. "export-main"
    job_type: str  # e.g. "export_list_data"
    status: JobStatus
    params: dict[str, Any] = field(default_factory=dict)  # as submitted, secrets masked
    remote_job_id: str | None = None  # Sailthru's job_id
    remote_status: str | None = None  # the last status the API reported
    attempts: int = 0  # POST attempts
    polls: int = 0  # GET /job calls
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # job fields plus action outputs
    error: str | None = None  # why it failed, timed out or was skipped
    # Failed because its POST may or may not have created it, and a second one would not be
    # harmless (an import): ``run --retry-failed`` leaves it alone unless told otherwise.
    ambiguous: bool = False
    actions: list[ActionResult] = field(default_factory=list)
    # What the user should know of a job that ran: a value the API page is silent on, a
    # pre-flight warning, an import that imported nobody.
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped_by_condition(self) -> bool:
        return skipped_by_condition(self.status, self.error)

    @property
    def ok(self) -> bool:
        """Succeeded, or skipped by a condition: nothing for the run to fail on."""
        return self.status is JobStatus.SUCCEEDED or self.skipped_by_condition

    @property
    def duration_seconds(self) -> float | None:
        if self.submitted_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.submitted_at).total_seconds()

    def problems(self) -> list[str]:
        """What went wrong, each once: the error of a job that did not succeed, then each
        failed action that error does not already tell (``continue_on_error``); with the
        attempts an action took when it took more than one. What every summary lists."""
        error = self.error if not self.ok else None
        problems = [error] if error else []
        for action in self.actions:
            if action.succeeded or not action.error:
                continue
            tries = f" ({action.attempts} attempts)" if action.attempts > 1 else ""
            # The job failed of this action (its error names it): told, with its attempts.
            # Matched on the name, not on the action's text ("down" is in many an error).
            if error and action.failed_in(error):
                problems[0] += tries
                continue
            problems.append(f"action {action.name} ({action.when}) failed{tries}: {action.error}")
        return problems

    @property
    def rows(self) -> int | None:
        """Rows the job produced or processed, when an output says so (its own, or an
        action's such as ``download``'s ``rows``)."""
        for outputs in (self.outputs, *(action.outputs for action in self.actions)):
            for key in ("rows", "row_count"):
                value = outputs.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
        return None


@dataclass
class JobSubmitted:
    """A job was accepted by the API: it has a remote job id from now on."""

    run_id: str
    id: str
    job_type: str
    remote_job_id: str
    params: dict[str, Any]  # masked
    submitted_at: datetime
    resumed: bool = False  # the id came from the run state of an earlier process


def counts_text(statuses: Iterable[str]) -> str:
    """Jobs per status in one order and spelling everywhere (the run's summary, `sailjobs
    runs`, the notify reports): ``"2 succeeded, 1 failed, 1 timed out"``."""
    counts = Counter(statuses)
    order = [status.value for status in JobStatus] + ["unfinished"]
    ranked = sorted(counts, key=lambda s: order.index(s) if s in order else len(order))
    return ", ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in ranked) or "no jobs"


@dataclass
class RunResult:
    """A whole run: its identity, every job's result and, once finished, the notify actions."""

    run_id: str
    manifest_name: str
    manifest_path: str
    started_at: datetime
    finished_at: datetime | None = None
    jobs: dict[str, JobResult] = field(default_factory=dict)
    actions: list[ActionResult] = field(default_factory=list)  # the manifest's ``notify``
    interrupted: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # run options (report paths, sandbox)
    # The run command as the user typed it (``sailjobs run m.yaml --state st``): the
    # advice in messages names it, so that pasting it does what the message says.
    command: str = ""
    # The ``--date`` a backfill runs for (None: the run is for the day it started).
    logical_date: date | None = None

    @property
    def run_date(self) -> date:
        """``run.date``: the logical date, else the day the run started (UTC)."""
        return self.logical_date or self.started_at.date()

    def retry_command(self, *resubmit: str) -> str:
        """The command that continues this run, submitting again only what failed, and the
        jobs ``resubmit`` even where a retry alone would not (see ``runner.executor.retry``).
        Under ``--sandbox``, whose jobs are gone with the process, the command that starts
        over."""
        base = self.command or f"sailjobs run {shlex.quote(self.manifest_path)}"
        if self.options.get("sandbox"):
            return base
        extra = "".join(f" --resubmit {shlex.quote(job)}" for job in resubmit)
        return f"{base} --retry-failed{extra}"

    def resume_command(self) -> str:
        """The command that continues this run after an interrupt (or starts over, under
        ``--sandbox``)."""
        base = self.command or f"sailjobs run {shlex.quote(self.manifest_path)}"
        return base if self.options.get("sandbox") else f"{base} --resume"

    @property
    def succeeded(self) -> bool:
        return not self.interrupted and all(job.ok for job in self.jobs.values())

    @property
    def status_word(self) -> str:
        """``succeeded``, ``failed`` or ``interrupted``: the run as a whole, as the exit code says."""
        if self.interrupted:
            return "interrupted"
        return "succeeded" if self.succeeded else "failed"

    @property
    def failed_jobs(self) -> list[JobResult]:
        return [job for job in self.jobs.values() if not job.ok]
