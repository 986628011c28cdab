"""The built-in ``download`` action against the sandbox, through the real client."""

from __future__ import annotations

import csv
import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.actions import ActionContext
from runner.builtin.download import (
    DownloadAction,
    DownloadClaim,
    DownloadError,
    DownloadSettings,
)
from runner.plugins import action_types
from runner.results import JobResult, JobStatus, RunResult
from runner.sailthru.client import RetryConfig, SailthruClient
from runner.sailthru.errors import ApiError, ExportExpiredError
from runner.testing import wait_for_job

RUN_ID = "run-1"


@pytest.fixture
def client(sandbox) -> Iterator[SailthruClient]:
    with SailthruClient(
        sandbox.api_key, sandbox.secret, sandbox.url, retry=RetryConfig(attempts=1)
    ) as api:
        yield api


def export_job(sandbox, client: SailthruClient, list_name: str, job_id: str = "export-main"):
    """A succeeded JobResult whose outputs are a real completed export's fields."""
    info = client.submit_job({"job": "export_list_data", "list": list_name})
    wait_for_job(sandbox, info.job_id)
    info = client.get_job(info.job_id)
    assert info.export_url
    return JobResult(
        run_id=RUN_ID,
        id=job_id,
        job_type="export_list_data",
        status=JobStatus.SUCCEEDED,
        remote_job_id=info.job_id,
        remote_status="completed",
        outputs=dict(info.fields),
    )


def context(tmp_path: Path, client, job: JobResult | None, run_id: str = RUN_ID) -> ActionContext:
    run = RunResult(
        run_id=run_id,
        manifest_name="demo",
        manifest_path="demo.yaml",
        started_at=datetime.now(UTC),
    )
    return ActionContext(
        run=run,
        job=job,
        workdir=tmp_path / "work",
        state_dir=tmp_path / "state",
        client=client,
    )


def download(ctx: ActionContext, path: str, overwrite: str = "never") -> dict:
    return DownloadAction().run(DownloadSettings(path=path, overwrite=overwrite), ctx)


def export_requests(sandbox) -> int:
    return sum(1 for _, path, _ in sandbox.request_log if path.startswith("/export"))


def leftovers(folder: Path) -> list[str]:
    """Hidden files (temp, part, staging) left beside the exports."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_saves_the_export_with_its_outputs(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "Main Newsletter")
    ctx = context(tmp_path, client, job)
    outputs = download(ctx, "exports/2026-11-27/main.csv")
    dest = tmp_path / "work" / "exports" / "2026-11-27" / "main.csv"
    data = dest.read_bytes()
    with open(dest, newline="", encoding="utf-8") as stream:
        rows = sum(1 for _ in csv.DictReader(stream))
    assert rows > 0
    assert outputs == {
        "path": str(dest),
        "bytes": len(data),
        "rows": rows,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert data.startswith(b"Profile Id,Email Hash,")
    assert dest.stat().st_mode & 0o777 == 0o600
    assert leftovers(dest.parent) == []
    assert job.outputs["export_url"] not in repr(outputs)


def test_a_folder_path_gets_the_exports_own_safe_name(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    job.outputs["filename"] = "vip list;1.csv"
    outputs = download(context(tmp_path, client, job), "exports/")
    assert outputs["path"] == str(tmp_path / "work" / "exports" / "vip list_1.csv")
    job.outputs["filename"] = "vip list.csv"
    outputs = download(context(tmp_path, client, job), "exports/")
    assert outputs["path"] == str(tmp_path / "work" / "exports" / "vip list.csv")
    existing = tmp_path / "work" / "existing"
    existing.mkdir()
    outputs = download(context(tmp_path, client, job), "existing")
    assert outputs["path"] == str(existing / "vip list.csv")


def test_never_refuses_to_replace_a_file_it_did_not_write(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "Main Newsletter")
    dest = tmp_path / "work" / "main.csv"
    dest.parent.mkdir(parents=True)
    dest.write_text("last night's export\n")
    with pytest.raises(DownloadError) as caught:
        download(context(tmp_path, client, job), "main.csv")
    message = str(caught.value)
    assert f"{dest} already exists" in message
    assert "overwrite: always" in message and "overwrite: if-changed" in message
    assert caught.value.transient is False  # the executor does not retry it
    assert dest.read_text() == "last night's export\n"
    assert export_requests(sandbox) == 0


def test_never_is_safe_to_call_again_in_the_same_run(tmp_path, sandbox, client):
    """A retry after a crash between the download and the executor's record of it."""
    job = export_job(sandbox, client, "Main Newsletter")
    first = download(context(tmp_path, client, job), "main.csv")
    again = download(context(tmp_path, client, job), "main.csv")
    assert again == first
    assert export_requests(sandbox) == 1  # the complete file was recognised, not fetched again
    # Another run (a --fresh one) did not write the file: it is refused.
    with pytest.raises(DownloadError, match="already exists"):
        download(context(tmp_path, client, job, run_id="run-2"), "main.csv")


def test_never_replaces_its_own_file_after_a_crash_before_the_claim_was_completed(
    tmp_path, sandbox, client
):
    job = export_job(sandbox, client, "VIP")
    ctx = context(tmp_path, client, job)
    dest = tmp_path / "work" / "vip.csv"
    dest.parent.mkdir(parents=True)
    # The first attempt claimed the path, its rename landed, then the process died.
    DownloadClaim.for_download(ctx.state_dir, RUN_ID, job, dest).save()
    dest.write_bytes(b"whatever the interrupted attempt left")
    outputs = download(ctx, "vip.csv")
    assert outputs["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert dest.read_bytes().startswith(b"Profile Id,")


def test_claims_older_than_a_week_are_forgotten(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    ctx = context(tmp_path, client, job)
    claims = ctx.state_dir / "downloads"
    claims.mkdir(parents=True)
    old, recent = claims / "old.json", claims / "recent.json"
    for path in (old, recent):
        path.write_text("{}")
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (eight_days_ago, eight_days_ago))
    download(ctx, "vip.csv")
    remaining = sorted(p.name for p in claims.iterdir())
    assert "old.json" not in remaining and "recent.json" in remaining
    assert len(remaining) == 2  # and this download's own claim


def test_a_cut_download_is_completed_by_the_next_attempt(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "Main Newsletter")
    sandbox.faults.cut_next_downloads(1)
    ctx = context(tmp_path, client, job)
    with pytest.raises(Exception) as caught:
        download(ctx, "main.csv")  # the client has one attempt here: the cut surfaces
    assert getattr(caught.value, "transient", False) is True
    dest = tmp_path / "work" / "main.csv"
    assert not dest.exists()
    assert leftovers(dest.parent) == []  # the action's only try: no partial file is kept
    outputs = download(ctx, "main.csv")
    assert outputs["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert leftovers(dest.parent) == []


def test_always_replaces(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    dest = tmp_path / "work" / "vip.csv"
    dest.parent.mkdir(parents=True)
    dest.write_text("old\n")
    outputs = download(context(tmp_path, client, job), "vip.csv", overwrite="always")
    assert dest.read_bytes().startswith(b"Profile Id,")
    assert outputs["bytes"] == dest.stat().st_size
    assert dest.stat().st_mode & 0o777 == 0o600


def test_if_changed_keeps_an_identical_file_untouched(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    first = download(context(tmp_path, client, job), "vip.csv", overwrite="if-changed")
    dest = Path(first["path"])
    os.utime(dest, ns=(1_000_000_000, 1_000_000_000))
    before = dest.stat()
    again = download(context(tmp_path, client, job), "vip.csv", overwrite="if-changed")
    after = dest.stat()
    assert again == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert export_requests(sandbox) == 2  # fetched to compare, but not moved into place
    assert leftovers(dest.parent) == []


def test_if_changed_replaces_a_different_file(tmp_path, sandbox, client):
    main = export_job(sandbox, client, "Main Newsletter")
    vip = export_job(sandbox, client, "VIP")
    first = download(context(tmp_path, client, main), "latest.csv", overwrite="if-changed")
    second = download(context(tmp_path, client, vip), "latest.csv", overwrite="if-changed")
    dest = Path(second["path"])
    assert second["sha256"] != first["sha256"]
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == second["sha256"]
    assert second["rows"] != first["rows"]
    assert dest.stat().st_mode & 0o777 == 0o600
    assert leftovers(dest.parent) == []


def test_an_expired_export_fails_clearly_and_leaves_nothing(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "Main Newsletter")
    sandbox.expire_exports()
    ctx = context(tmp_path, client, job)
    with pytest.raises(ExportExpiredError) as caught:
        download(ctx, "exports/main.csv")
    assert "expired" in str(caught.value)
    assert job.outputs["end_time"] in str(caught.value)  # when it was created
    assert caught.value.transient is False
    assert job.outputs["export_url"] not in str(caught.value)
    folder = tmp_path / "work" / "exports"
    assert not (folder / "main.csv").exists()
    assert leftovers(folder) == []


def test_a_job_without_an_export_is_a_clear_error(tmp_path, client):
    job = JobResult(run_id=RUN_ID, id="reimport", job_type="import", status=JobStatus.SUCCEEDED)
    with pytest.raises(DownloadError, match=r"job 'reimport' \(import\) has no export_url") as e:
        download(context(tmp_path, client, job), "x.csv")
    exporting = "(blast_query, export_list_data, export_purchase_log, export_scheduled_sends)"
    assert exporting in str(e.value)
    job.outputs["expired"] = True
    with pytest.raises(DownloadError, match="its export has expired"):
        download(context(tmp_path, client, job), "x.csv")
    job.outputs["end_time"] = "Wed, 07 Dec 2016 15:23:04 -0500"
    with pytest.raises(DownloadError, match=r"expired \(created Wed, 07 Dec 2016 15:23:04"):
        download(context(tmp_path, client, job), "x.csv")
    with pytest.raises(DownloadError, match="not in notify"):
        download(context(tmp_path, client, None), "x.csv")
    assert not (tmp_path / "work").exists()


def local_export_job(tmp_path: Path, data: bytes = b"Date,Email Hash\n1,a\n2,b\n") -> JobResult:
    """A succeeded split job: its export is a local file (``export_path``), no export_url."""
    joined = tmp_path / "state" / "splits" / RUN_ID / "purchases" / "purchases.csv"
    joined.parent.mkdir(parents=True)
    joined.write_bytes(data)
    return JobResult(
        run_id=RUN_ID,
        id="purchases",
        job_type="export_purchase_log",
        status=JobStatus.SUCCEEDED,
        remote_job_id="a,b",
        outputs={"export_path": str(joined), "filename": joined.name},
    )


def test_a_local_export_is_copied_atomically_without_a_client(tmp_path):
    job = local_export_job(tmp_path)
    ctx = context(tmp_path, None, job)
    assert ctx.export_path == Path(job.outputs["export_path"])
    outputs = download(ctx, "exports/")
    dest = tmp_path / "work" / "exports" / "purchases.csv"
    data = Path(job.outputs["export_path"]).read_bytes()
    assert dest.read_bytes() == data
    assert outputs == {
        "path": str(dest),
        "bytes": len(data),
        "rows": 2,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert dest.stat().st_mode & 0o777 == 0o600
    assert leftovers(dest.parent) == []
    assert Path(job.outputs["export_path"]).exists()  # copied, the run's own file kept
    # Called again in the same run (a retry after a crash): recognised by its claim.
    assert download(context(tmp_path, None, job), "exports/") == outputs


def test_a_local_export_follows_overwrite(tmp_path):
    job = local_export_job(tmp_path)
    dest = tmp_path / "work" / "p.csv"
    dest.parent.mkdir(parents=True)
    dest.write_text("old\n")
    with pytest.raises(DownloadError, match="already exists"):
        download(context(tmp_path, None, job), "p.csv")
    assert dest.read_text() == "old\n"
    download(context(tmp_path, None, job), "p.csv", overwrite="if-changed")
    assert dest.read_bytes() == Path(job.outputs["export_path"]).read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o600
    os.utime(dest, ns=(1_000_000_000, 1_000_000_000))
    before = dest.stat()
    download(context(tmp_path, None, job), "p.csv", overwrite="if-changed")
    after = dest.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    dest.write_text("old\n")
    download(context(tmp_path, None, job), "p.csv", overwrite="always")
    assert dest.read_bytes() == Path(job.outputs["export_path"]).read_bytes()
    assert leftovers(dest.parent) == []


def test_a_local_export_that_is_gone_is_a_clear_error(tmp_path):
    job = local_export_job(tmp_path)
    Path(job.outputs["export_path"]).unlink()
    with pytest.raises(DownloadError, match=r"job 'purchases': its export .* is gone"):
        download(context(tmp_path, None, job), "p.csv")
    assert not (tmp_path / "work").exists()


def test_registered_as_a_builtin_plugin_with_strict_settings():
    registered = action_types()["download"]
    assert registered.plugin == "runner.builtin.download"
    assert registered.action.needs_export is True
    assert registered.action.outputs == {"path", "bytes", "rows", "sha256"}
    model = registered.action.settings_model
    assert model.model_validate({"path": "x.csv"}).overwrite == "never"
    for bad in ({"path": "x.csv", "overwrite": "sometimes"}, {"path": ""}, {"dest": "x.csv"}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_a_cut_download_is_resumed_by_the_clients_own_retry(tmp_path, sandbox):
    with SailthruClient(
        sandbox.api_key, sandbox.secret, sandbox.url, retry=RetryConfig(attempts=2, initial=0.01)
    ) as client:
        job = export_job(sandbox, client, "Main Newsletter")
        sandbox.faults.cut_next_downloads(1)
        outputs = download(context(tmp_path, client, job), "main.csv")
    dest = tmp_path / "work" / "main.csv"
    assert outputs["sha256"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert DownloadAction.attempts == 1  # the executor does not retry on top of the client


@pytest.mark.parametrize(
    "filename", ["../../outside.csv", "..", ".bashrc", "sub/dir.csv", "..\\x.csv", "a\nb.csv"]
)
def test_a_server_file_name_that_leaves_the_folder_is_refused(tmp_path, sandbox, client, filename):
    job = export_job(sandbox, client, "VIP")
    job.outputs["filename"] = filename
    with pytest.raises(DownloadError, match=r"not a plain file name.*nothing was written"):
        download(context(tmp_path, client, job), "exports/")
    assert not (tmp_path / "work" / "exports").exists() or not any(
        (tmp_path / "work" / "exports").iterdir()
    )
    assert not (tmp_path / "outside.csv").exists()


@pytest.mark.parametrize(
    "path", ["../outside.csv", "exports/../../outside.csv", "~/outside.csv", "/tmp/outside.csv"]
)
def test_a_path_outside_the_manifests_folder_needs_allow_outside(tmp_path, sandbox, client, path):
    job = export_job(sandbox, client, "VIP")
    with pytest.raises(ValidationError, match="outside the manifest's folder"):
        DownloadSettings(path=path)
    # A value substituted at run time (an output, a variable) is checked again when it runs.
    settings = DownloadSettings.model_construct(
        path=path, overwrite="never", max_bytes=10**9, allow_outside=False
    )
    with pytest.raises(DownloadError, match=r"outside the manifest's folder.*allow_outside: true"):
        DownloadAction().run(settings, context(tmp_path, client, job))
    assert not (tmp_path / "outside.csv").exists()


def test_allow_outside_writes_where_the_manifest_says(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    settings = DownloadSettings(path="../outside.csv", allow_outside=True)
    outputs = DownloadAction().run(settings, context(tmp_path, client, job))
    assert outputs["path"] == str(tmp_path / "outside.csv")


# The client hangs up on the sandbox mid-answer; its server (werkzeug) then leaves the
# export's open file to the garbage collector, which warns.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_export_over_max_bytes_is_refused_and_leaves_nothing(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "Main Newsletter")
    settings = DownloadSettings(path="exports/main.csv", max_bytes=100)
    with pytest.raises(ApiError, match="more than the download's limit of 100 bytes"):
        DownloadAction().run(settings, context(tmp_path, client, job))
    assert list((tmp_path / "work" / "exports").iterdir()) == []


def test_an_export_url_that_is_not_http_fails_at_once(tmp_path, sandbox, client):
    job = export_job(sandbox, client, "VIP")
    job.outputs["export_url"] = "file:///etc/passwd"
    with pytest.raises(ApiError, match=r"not an http\(s\) URL"):
        download(context(tmp_path, client, job), "vip.csv")
    assert not (tmp_path / "work" / "vip.csv").exists()
