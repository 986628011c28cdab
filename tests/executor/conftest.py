"""Helpers for the executor tests: a fast sandbox, a client that never waits long, manifests
written from text, and a plugin that records every hook call."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from executor_helpers import HookRecorder, manifest_text


@pytest.fixture
def client_for() -> Iterator[Callable[..., Any]]:
    """A client of a sandbox with short retries and its own rate-limit budget (no test waits
    for another test's 429s)."""
    from runner.sailthru.client import RetryConfig, SailthruClient
    from runner.sailthru.ratelimit import RateLimitBudget

    made: list[Any] = []

    def make(sandbox: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("retry", RetryConfig(attempts=6, initial=0.05, max=0.3))
        kwargs.setdefault("budget", RateLimitBudget(jitter=0.05, max_wait=0.5))
        client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    def write(body: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_jobs(
    sandbox: Any,
    client_for: Callable[..., Any],
    write_manifest: Callable[..., Path],
    tmp_path: Path,
) -> Callable[..., Any]:
    """``run_jobs(jobs, header=..., **options)``: write ``manifest_text(jobs, header=header)``
    and run it on the ``sandbox``, the run state in ``tmp_path/st``; returns the RunResult."""
    from runner.executor.lifecycle import run

    def run_manifest(jobs: str, *, header: str = "", **options: Any) -> Any:
        path = write_manifest(manifest_text(jobs, header=header))
        return run(path, client=client_for(sandbox), state=tmp_path / "st", **options)

    return run_manifest


@pytest.fixture
def hooks() -> HookRecorder:
    from runner.plugins import get_plugin_manager

    recorder = HookRecorder()
    get_plugin_manager().register(recorder, name="test-recorder")
    return recorder
