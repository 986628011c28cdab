"""Shared by the executor tests: manifest text with fast polling, a hook-recording plugin."""

from __future__ import annotations

import textwrap
import threading

from runner.hookspecs import hookimpl
from runner.results import JobResult, JobSubmitted, RunResult

FAST_DEFAULTS = """\
defaults:
  timeout: 30s
  poll: {initial: 0.05s, max: 0.2s}
  retry: {attempts: 6, initial: 0.01s, max: 0.3s}
"""


def manifest_text(jobs: str, *, header: str = "", name: str = "t") -> str:
    """A manifest with fast polling; ``jobs`` is the indented body under ``jobs:``."""
    return (
        f"version: 1\nname: {name}\n{FAST_DEFAULTS}{textwrap.dedent(header)}jobs:\n"
        + textwrap.indent(textwrap.dedent(jobs), "  ")
    )


class HookRecorder:
    """A plugin recording every run hook call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.finished: dict[str, list[JobResult]] = {}
        self.submitted: list[JobSubmitted] = []
        self.lock = threading.Lock()

    @hookimpl
    def sailjobs_run_started(self, run: RunResult) -> None:
        self.calls.append(("run_started", ""))

    @hookimpl
    def sailjobs_job_submitted(self, event: JobSubmitted) -> None:
        with self.lock:
            self.calls.append(("submitted", event.id))
            self.submitted.append(event)

    @hookimpl
    def sailjobs_job_finished(self, result: JobResult) -> None:
        with self.lock:
            self.calls.append(("finished", result.id))
            self.finished.setdefault(result.id, []).append(result)

    @hookimpl
    def sailjobs_run_finished(self, result: RunResult) -> None:
        self.calls.append(("run_finished", ""))
