"""Every exchange with the API is bounded, whatever the server does: a total deadline per
call (not only per read), a size limit on answers, and no hang on an answer that never ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hostile import endless_chunks, endless_json, huge_file, trickle, trickle_headers
from scripted_servers import ScriptedServer, job_answer, serve_file

from runner.actions import ActionContext
from runner.builtin.download import DownloadAction, DownloadSettings
from runner.limits import MAX_API_ANSWER_BYTES
from runner.results import JobResult, JobStatus, RunResult
from runner.sailthru.client import AmbiguousSubmitError, ApiError, RetryConfig

JOB_ID = "5a1b2c3d4e5f60718293a4b5"
# The bug made each of these hang for as long as the server kept sending (forever).
BOUND = 20.0


def test_a_get_answer_that_trickles_fails_at_the_total_deadline_and_is_retried(
    make_client,
) -> None:
    with ScriptedServer([trickle(), job_answer()]) as server:
        client = make_client(server.url, total_timeout=1.0)
        started = time.monotonic()
        info = client.get_job(JOB_ID)
    assert time.monotonic() - started < BOUND
    assert info.job_id == JOB_ID  # the second attempt answered
    assert len(server.requests) == 2


def test_a_get_answer_that_trickles_every_time_fails_with_a_clear_error(make_client) -> None:
    with ScriptedServer([trickle()]) as server:
        client = make_client(server.url, total_timeout=0.5, retry=RetryConfig(attempts=2))
        started = time.monotonic()
        with pytest.raises(ApiError) as raised:
            client.get_job(JOB_ID)
    assert time.monotonic() - started < BOUND
    assert "no complete answer within 0.5 s" in raised.value.message
    assert raised.value.transient


def test_headers_that_trickle_fail_at_the_total_deadline(make_client) -> None:
    with ScriptedServer([trickle_headers()]) as server:
        client = make_client(server.url, total_timeout=0.5, retry=RetryConfig(attempts=1))
        started = time.monotonic()
        with pytest.raises(ApiError, match="no complete answer within"):
            client.get_job(JOB_ID)
    assert time.monotonic() - started < BOUND


def test_the_deadline_holds_through_an_http_proxy(make_client, monkeypatch) -> None:
    with ScriptedServer([trickle()]) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = make_client("http://api.sailthru.invalid", total_timeout=0.5,
                             retry=RetryConfig(attempts=1))  # fmt: skip
        with pytest.raises(ApiError, match="no complete answer within"):
            client.get_job(JOB_ID)
    assert proxy.requests[0].headers["host"] == "api.sailthru.invalid"  # it went through


def test_a_chunked_answer_that_never_ends_fails_at_the_total_deadline(make_client) -> None:
    with ScriptedServer([endless_chunks()]) as server:
        client = make_client(server.url, total_timeout=0.5, retry=RetryConfig(attempts=1))
        started = time.monotonic()
        with pytest.raises(ApiError, match="no complete answer within"):
            client.get_job(JOB_ID)
    assert time.monotonic() - started < BOUND


def test_a_post_whose_answer_trickles_is_ambiguous_not_resubmitted(make_client) -> None:
    with ScriptedServer([trickle()]) as server:
        client = make_client(server.url, total_timeout=0.5)
        with pytest.raises(AmbiguousSubmitError, match="may or may not have been created"):
            client.submit_job({"job": "import", "list": "L", "emails": "a@example.com"})
    assert len(server.requests) == 1


def test_an_endless_json_answer_is_refused_at_the_size_limit(make_client) -> None:
    with ScriptedServer([endless_json()]) as server:
        # A deadline far away: the size limit, not the clock, ends this answer.
        client = make_client(server.url, total_timeout=600.0)
        started = time.monotonic()
        with pytest.raises(ApiError) as raised:
            client.get_job(JOB_ID)
    assert time.monotonic() - started < BOUND
    assert f"larger than {MAX_API_ANSWER_BYTES // 1024**2} MiB" in raised.value.message
    assert len(server.requests) == 1  # a broken server: not asked again


def test_an_oversized_answer_to_a_post_is_ambiguous(make_client) -> None:
    with ScriptedServer([endless_json()]) as server:
        client = make_client(server.url)
        with pytest.raises(AmbiguousSubmitError, match="larger than"):
            client.submit_job({"job": "import", "list": "L", "emails": "a@example.com"})
    assert len(server.requests) == 1


# -- downloads ----------------------------------------------------------------------------

EXPORT_PATH = "/sailthru/export/2016/12/07/d699e4bd562eec65a1e0c2f47b111111"


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*"))


def test_a_download_announcing_more_than_the_limit_is_refused_at_once(make_client, tmp_path):
    with ScriptedServer([huge_file(50 * 1024**3)]) as server:
        client = make_client(server.url)
        started = time.monotonic()
        with pytest.raises(ApiError, match="more than the download's limit of 1000000 bytes"):
            client.download_export(server.url + EXPORT_PATH, tmp_path / "x.csv", max_bytes=10**6)
    assert time.monotonic() - started < BOUND
    assert len(server.requests) == 1
    assert _left_in(tmp_path) == []


def test_an_endless_chunked_download_stops_at_the_size_limit(make_client, tmp_path) -> None:
    with ScriptedServer([endless_chunks(b"x" * 65536, every=0.0)]) as server:
        client = make_client(server.url)
        with pytest.raises(ApiError, match="went on past 1000000 bytes"):
            client.download_export(server.url + EXPORT_PATH, tmp_path / "x.csv", max_bytes=10**6)
    assert len(server.requests) == 1
    assert _left_in(tmp_path) == []


def test_a_download_that_trickles_ends_at_its_deadline(make_client, tmp_path) -> None:
    with ScriptedServer([trickle(b"a,b\n", length=100)]) as server:
        client = make_client(server.url, total_timeout=0.5, retry=RetryConfig(attempts=2))
        started = time.monotonic()
        with pytest.raises(ApiError, match="did not finish in"):
            client.download_export(server.url + EXPORT_PATH, tmp_path / "x.csv", keep_partial=False)
    assert time.monotonic() - started < BOUND
    assert len(server.requests) == 2
    assert _left_in(tmp_path) == []  # failed for good, and the caller will not resume


def test_a_download_cut_short_keeps_its_part_only_when_asked(make_client, tmp_path) -> None:
    data = b"a,b\n" * 10_000
    with ScriptedServer([serve_file(data, cut_at=5000)]) as server:
        client = make_client(server.url, retry=RetryConfig(attempts=1))
        url = server.url + EXPORT_PATH
        with pytest.raises(ApiError, match=r"cut short|broke"):
            client.download_export(url, tmp_path / "kept.csv")
        with pytest.raises(ApiError, match=r"cut short|broke"):
            client.download_export(url, tmp_path / "gone.csv", keep_partial=False)
    assert [p.name.split(".")[1] for p in tmp_path.glob(".*.part")] == ["kept"]


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://exports.example.com/x.csv", "gopher://x/1", "/tmp/x"]
)
def test_a_link_that_is_not_http_fails_at_once(make_client, fake_clock, tmp_path, url) -> None:
    client = make_client("http://127.0.0.1:9")
    with pytest.raises(ApiError, match="not an http\\(s\\) URL") as raised:
        client.download_export(url, tmp_path / "x.csv")
    assert not raised.value.transient
    assert fake_clock.sleeps == []  # no retry, no backoff
    assert _left_in(tmp_path) == []


# -- the download action, pointed at the hostile server -----------------------------------


def _action_context(tmp_path: Path, client, export_url: str) -> ActionContext:
    job = JobResult(
        run_id="run-1",
        id="export-main",
        job_type="export_list_data",
        status=JobStatus.SUCCEEDED,
        remote_job_id=JOB_ID,
        outputs={"export_url": export_url},
    )
    run = RunResult(run_id="run-1", manifest_name="m", manifest_path="m.yaml",
                    started_at=datetime.now(UTC))  # fmt: skip
    return ActionContext(run=run, job=job, workdir=tmp_path / "work",
                         state_dir=tmp_path / "state", client=client)  # fmt: skip


def test_the_download_action_stops_an_endless_export_and_keeps_nothing(make_client, tmp_path):
    with ScriptedServer([endless_chunks(b"x" * 65536, every=0.0)]) as server:
        ctx = _action_context(tmp_path, make_client(server.url), server.url + EXPORT_PATH)
        settings = DownloadSettings(path="exports/main.csv", max_bytes=10**6)
        with pytest.raises(ApiError, match="went on past 1000000 bytes"):
            DownloadAction().run(settings, ctx)
    assert _left_in(tmp_path / "work") == ["exports"]


def test_the_download_action_gives_up_on_a_trickle_and_keeps_nothing(make_client, tmp_path):
    with ScriptedServer([trickle(b"a,b\n", length=100)]) as server:
        client = make_client(server.url, total_timeout=0.5, retry=RetryConfig(attempts=2))
        ctx = _action_context(tmp_path, client, server.url + EXPORT_PATH)
        with pytest.raises(ApiError, match="did not finish in"):
            DownloadAction().run(DownloadSettings(path="exports/main.csv"), ctx)
    assert _left_in(tmp_path / "work") == ["exports"]  # no partial file
