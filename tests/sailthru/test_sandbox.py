"""The client against the sandbox: the real wire format, its faults, its exports."""

from __future__ import annotations

import csv
import hashlib
import io
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from scripted_servers import FakeClock

from runner.sailthru.client import (
    AmbiguousSubmitError,
    ApiError,
    ExportExpiredError,
    JobInfo,
    RetryConfig,
    SailthruClient,
)
from runner.sailthru.ratelimit import RateLimitBudget

EMAILS = ["ada@example.com", "grace@example.com", "linus@example.com"]


@pytest.fixture
def connect() -> Callable[..., SailthruClient]:
    """A client of a sandbox whose retry waits are recorded, not slept (clock from now)."""
    clients: list[SailthruClient] = []

    def make(sandbox, *, secret: str | None = None, **overrides) -> SailthruClient:
        clock = FakeClock(time.time())
        options = {
            "retry": RetryConfig(attempts=4, initial=0.5, max=4.0),
            "budget": RateLimitBudget(jitter=0.0),
            "sleep": clock.sleep,
            "clock": clock,
        }
        options.update(overrides)
        client = SailthruClient(sandbox.api_key, secret or sandbox.secret, sandbox.url, **options)
        client.fake_clock = clock  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _wait(client: SailthruClient, job_id: str, timeout: float = 15.0) -> JobInfo:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_job(job_id)
        if job.finished or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _import_emails(client: SailthruClient, list_name: str) -> JobInfo:
    payload = {"job": "import", "list": list_name, "emails": ",".join(EMAILS)}
    return client.submit_job(payload)


def test_import_then_export_then_download(sandbox, connect, tmp_path: Path) -> None:
    client = connect(sandbox)
    imported = _import_emails(client, "Client Test")
    assert imported.status == "pending" and len(imported.job_id) == 24
    assert _wait(client, imported.job_id).succeeded

    exported = client.submit_job({"job": "export_list_data", "list": "Client Test"})
    done = _wait(client, exported.job_id)
    assert done.succeeded and done.export_url and done.filename
    assert done.export_url not in repr(done)

    result = client.download_job_export(done, tmp_path)
    assert result.path.parent == tmp_path and result.path.name == done.filename
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    data = result.path.read_bytes()
    assert result.bytes == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    hashes = {row["Email Hash"] for row in rows}
    assert {hashlib.md5(e.encode()).hexdigest() for e in EMAILS} <= hashes
    # GET budget tracked from the sandbox's headers.
    state = client.budget_for("job", "GET")
    assert state.limit is not None and state.remaining is not None and state.reset is not None


def test_file_upload_import(sandbox, connect, tmp_path: Path) -> None:
    upload = tmp_path / "people.csv"
    upload.write_text("email\n" + "\n".join(EMAILS) + "\n", encoding="utf-8")
    client = connect(sandbox)
    job = client.submit_job({"job": "import", "list": "Uploaded"}, file=upload)
    assert _wait(client, job.job_id).succeeded
    [submitted] = sandbox.submissions("import")
    assert submitted["list"] == "Uploaded"


def test_bad_secret_is_a_permanent_error_naming_the_secret_variable(sandbox, connect) -> None:
    client = connect(sandbox, secret="not-the-sandbox-secret")
    with pytest.raises(ApiError) as caught:
        client.get_job("0" * 24)
    assert (caught.value.code, caught.value.http_status) == (5, 401)
    assert not caught.value.transient
    assert "SAILTHRU_API_SECRET" in str(caught.value)
    assert "not-the-sandbox-secret" not in str(caught.value)
    assert len(sandbox.request_log) == 1


def test_5xx_bursts_on_get_are_retried(sandbox, connect) -> None:
    client = connect(sandbox)
    job = _import_emails(client, "Retry")
    sandbox.faults.fail_next(3, status=502, method="GET")
    assert client.get_job(job.job_id).job_id == job.job_id
    gets = [entry for entry in sandbox.request_log if entry[0] == "GET"]
    assert [status for _, _, status in gets] == [502, 502, 502, 200]
    assert len(client.fake_clock.sleeps) == 3


def test_5xx_on_post_never_duplicates_an_import(sandbox, connect) -> None:
    client = connect(sandbox)
    sandbox.faults.fail_next(1, status=503, method="POST")
    with pytest.raises(AmbiguousSubmitError):
        _import_emails(client, "NoDup")
    assert len([e for e in sandbox.request_log if e[0] == "POST"]) == 1


def test_dropped_after_body_is_ambiguous_and_the_job_exists(sandbox, connect) -> None:
    client = connect(sandbox)
    sandbox.faults.drop_next(1, after_body=True, method="POST")
    with pytest.raises(AmbiguousSubmitError, match="may or may not have been created"):
        _import_emails(client, "Ambiguous")
    # The sandbox did create it: retrying would have made a duplicate.
    assert len(sandbox.submissions("import")) == 1


def test_dropped_before_body_is_retried_once_safely(sandbox, connect, tmp_path: Path) -> None:
    # Big enough that the client is still sending when the sandbox drops the connection
    # (few rows, so the sandbox's import itself is quick).
    upload = tmp_path / "big.csv"
    upload.write_bytes(b"email,note\nada@example.com," + b"x" * (16 * 1024 * 1024) + b"\n")
    client = connect(sandbox)
    sandbox.faults.drop_next(1, method="POST")
    client.submit_job({"job": "import", "list": "Dropped"}, file=upload)
    assert len(sandbox.submissions("import")) == 1
    assert [status for method, _, status in sandbox.request_log if method == "POST"] == [0, 200]


def test_429_storm_is_waited_out_and_posts_once(sandbox, connect) -> None:
    client = connect(sandbox)
    sandbox.faults.throttle_next(2, method="POST")
    _import_emails(client, "Throttled")
    assert len(sandbox.submissions("import")) == 1
    posts = [status for method, _, status in sandbox.request_log if method == "POST"]
    assert posts == [429, 429, 200]
    assert len(client.fake_clock.sleeps) >= 2 and all(s > 0 for s in client.fake_clock.sleeps)


def test_expired_export(sandbox, connect, tmp_path: Path) -> None:
    client = connect(sandbox)
    job = client.submit_job({"job": "export_list_data", "list": "Main Newsletter"})
    done = _wait(client, job.job_id)
    assert done.succeeded and done.export_url
    sandbox.expire_exports()
    with pytest.raises(ExportExpiredError, match="expired") as caught:
        client.download_export(done.export_url, tmp_path / "x.csv", created=done.end_time)
    assert done.end_time in str(caught.value)
    assert done.export_url not in str(caught.value)
    again = client.get_job(job.job_id)
    assert again.expired and again.export_url is None
    with pytest.raises(ExportExpiredError):
        client.download_job_export(again, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cut_download_is_resumed(sandbox, connect, tmp_path: Path) -> None:
    client = connect(sandbox)
    job = client.submit_job({"job": "export_list_data", "list": "Main Newsletter"})
    done = _wait(client, job.job_id)
    sandbox.faults.cut_next_downloads(1)
    result = client.download_job_export(done, tmp_path / "main.csv")
    whole = connect(sandbox).download_export(done.export_url, tmp_path / "again.csv")
    assert result.bytes == whole.bytes and result.sha256 == whole.sha256
    assert result.path.read_bytes() == whole.path.read_bytes()


def test_answer_cut_mid_response(sandbox, connect) -> None:
    client = connect(sandbox)
    job = _import_emails(client, "Cut")
    sandbox.faults.drop_next(1, mid_response=True, method="GET")
    assert client.get_job(job.job_id).job_id == job.job_id  # a GET is simply retried
    sandbox.faults.drop_next(1, mid_response=True, method="POST")
    with pytest.raises(AmbiguousSubmitError, match="connection broke"):
        _import_emails(client, "Cut Again")
    # The sandbox created the job before cutting its answer: no second one was sent.
    assert [s["list"] for s in sandbox.submissions("import")] == ["Cut", "Cut Again"]
