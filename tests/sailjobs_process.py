"""Real ``sailjobs`` processes for the crash and reliability tests: started against a sandbox
that lives in the test process (so it outlives them and counts every submission), waited
for, killed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


def sandbox_env(sandbox: Any, **extra: str) -> dict[str, str]:
    """This process's environment plus the sandbox's API URL and credentials."""
    return {
        **os.environ,
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        **extra,
    }


def start_sailjobs(
    cwd: Path, sandbox: Any, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """``sailjobs ARGS`` in ``cwd`` against ``sandbox``, its output (both streams) piped."""
    return subprocess.Popen(
        [SAILJOBS, *args],
        cwd=cwd,
        env=env or sandbox_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 30.0
) -> None:
    """Until ``condition()``; fails the test if the process ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"the run ended (rc {process.returncode}) before the kill point:\n{output}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the kill point was never reached")
        time.sleep(0.002)


def finish(process: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    """The exit code and the whole output of a process, once it ended."""
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output
