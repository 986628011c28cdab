"""Shared by the executor tests: manifest text with fast polling, a hook-recording plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from runner.hookspecs import hookimpl
from runner.results import JobResult, JobSubmitted, RunResult

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


def sailjobs_on(
    sandbox: Any, workdir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``sailjobs ARGS`` as a user runs it, in ``workdir``, with the sandbox's credentials
    (and ``env``); no step summary unless the test asks for one (CI sets one for all)."""
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    full_env |= {
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        **env,
    }
    return subprocess.run(
        [SAILJOBS, *args], cwd=workdir, env=full_env, capture_output=True, text=True, timeout=120
    )


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
