"""pytest fixtures for sailjobs and for in-house plugin authors (``pytest_plugins = ["runner.testing"]``).

- ``sandbox``: a started :class:`runner.sandbox.Sandbox` seeded with the demo data, on a free
  loopback port, with its data in a temporary directory and fast jobs (0.2 s).
- ``sandbox_factory(**kwargs)``: start a sandbox with other settings (``job_time``,
  ``rate_limits``, ``faults``, ``export_ttl``, ``smtp``, ``seed``…); each one is stopped at
  the end of the test. ``start=False`` returns it unstarted. ``seed`` is ``"demo"``, None
  (empty) or the path of your own YAML or CSV seed file (``SeedFileError`` if it is bad).
- ``wait_for_job(sandbox, job_id)``: poll the sandbox's own view of a job (no API request is
  counted) until it is ``completed``, ``error`` or ``incomplete``.
- ``sandbox_client``: a ``SailthruClient`` of ``sandbox`` (short retries), closed afterwards.
- ``run_on_sandbox(manifest, **kwargs)``: run a manifest (path or YAML text) on ``sandbox``
  with every installed plugin, as ``sailjobs run`` does; returns the ``RunResult``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from runner.results import RunResult
    from runner.sailthru.client import SailthruClient
    from runner.sandbox import Sandbox

FAST_JOB_TIME = 0.2
TERMINAL_STATUSES = ("completed", "error", "incomplete")


def wait_for_job(
    sandbox: Sandbox,
    job_id: str,
    timeout: float = 10.0,
    statuses: tuple[str, ...] = TERMINAL_STATUSES,
) -> dict[str, Any]:
    """The job's GET fields once its status is one of ``statuses``; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        job = sandbox.job(job_id)
        if job is not None and job["status"] in statuses:
            return job
        if time.monotonic() >= deadline:
            raise TimeoutError(f"job {job_id} is still {job and job['status']} after {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def sandbox_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with chosen settings; all are stopped when the test ends."""
    # lazy: a pytest plugin module, loaded by every pytest run; the sandbox only when used
    from runner.sandbox import Sandbox

    made: list[Sandbox] = []

    def make(*, start: bool = True, **kwargs: Any) -> Sandbox:
        kwargs.setdefault("data_dir", tmp_path_factory.mktemp("sandbox"))
        kwargs.setdefault("job_time", FAST_JOB_TIME)
        sandbox = Sandbox(**kwargs)
        made.append(sandbox)
        return sandbox.start() if start else sandbox

    yield make
    for sandbox in reversed(made):
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A started sandbox with the demo data (lists ``Main Newsletter``, ``Engaged``, ``VIP``…)."""
    return sandbox_factory(seed="demo")


@pytest.fixture
def sandbox_client(sandbox: Sandbox) -> Iterator[SailthruClient]:
    """A ``SailthruClient`` of the ``sandbox`` with short retries; closed after the test."""
    # lazy: as above, requests loads only when a test asks for a client
    from runner.sailthru.client import RetryConfig, SailthruClient

    client = SailthruClient(
        sandbox.api_key,
        sandbox.secret,
        sandbox.url,
        retry=RetryConfig(attempts=4, initial=0.05, max=0.5),
    )
    yield client
    client.close()


# For plugin authors: run a manifest on the sandbox in one call, with every installed plugin.
@pytest.fixture
def run_on_sandbox(sandbox_client: SailthruClient, tmp_path: Path) -> Callable[..., RunResult]:
    """``run_on_sandbox(manifest, **kwargs)``: run a manifest (a path, or YAML text written to
    ``tmp_path/manifest.yaml``) on the ``sandbox``, as ``sailjobs run`` would, and return its
    ``RunResult``. Every installed plugin takes part; the run state lives in ``tmp_path``;
    keyword arguments go to ``runner.executor.run`` (``env=``, ``progress=``…)."""
    # lazy: as above, the executor loads only when a test runs a manifest
    from runner.executor.lifecycle import run

    def run_manifest(manifest: str | Path, **kwargs: Any) -> RunResult:
        if isinstance(manifest, str) and "\n" in manifest:
            path = tmp_path / "manifest.yaml"
            path.write_text(manifest, encoding="utf-8")
        else:
            path = Path(manifest)
        kwargs.setdefault("state", tmp_path / ".sailjobs")
        return run(path, client=sandbox_client, **kwargs)

    return run_manifest
