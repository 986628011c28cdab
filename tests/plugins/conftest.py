"""Fixtures for the first-party plugins' tests: real servers on loopback and run results."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_dists import write_distribution
from plugin_results import make_job, make_run
from plugin_servers import SmtpSink, WebhookReceiver, self_signed_certificate

from runner import plugins
from runner.results import JobStatus, RunResult

# The guide's example plugins have their own tests, run by test_plugin_example.py in a pytest
# of their own once each plugin is installed (as its authors would run them).
collect_ignore = ["example-plugin", "example-jobtype"]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_sink() -> Iterator[Callable[..., SmtpSink]]:
    """Start SMTP servers: ``smtp_sink(mode="starttls", cert=…, credentials=(u, p))``."""
    started: list[SmtpSink] = []

    def start(**kwargs: Any) -> SmtpSink:
        sink = SmtpSink(**kwargs).__enter__()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.__exit__()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto in server mode) on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials for moto, and no real AWS configuration leaking in."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def mixed_run() -> RunResult:
    """A run with one job of each outcome."""
    return make_run(
        make_job("export-main", outputs={"rows": 12345, "path": "exports/main.csv"}),
        make_job(
            "reimport",
            JobStatus.FAILED,
            job_type="import",
            seconds=3725,
            error="Sailthru error 99: List Import failed: <unknown list>",
        ),
        make_job("purchases", JobStatus.TIMED_OUT, job_type="export_purchase_log", seconds=7200),
        make_job("cleanup", JobStatus.SKIPPED, seconds=None, error="needs 'reimport' (failed)"),
    )


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Install a distribution made at test time (on sys.path for this test only)."""

    def make(
        dist_name: str, source: str, entry_name: str | None = None, version: str = "1.2.3"
    ) -> Path:
        module = dist_name.replace("-", "_")
        root = tmp_path / f"site-{dist_name}"
        write_distribution(
            root, dist_name, {module: source}, {entry_name or dist_name: module}, version
        )
        monkeypatch.syspath_prepend(str(root))
        modules.append(module)
        sys.modules.pop(module, None)
        plugins.reset_plugin_manager()
        return root

    modules: list[str] = []
    yield make
    for module in modules:  # the next test may install another module of that name
        sys.modules.pop(module, None)
