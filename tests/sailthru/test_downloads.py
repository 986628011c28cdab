"""Export downloads: bytes on disk, resume, restart, expiry, safe names, privacy."""

from __future__ import annotations

import hashlib
import socket
import stat
import traceback
from pathlib import Path

import pytest
from scripted_servers import ScriptedServer, serve_file, status_only

from runner.sailthru.client import ApiError, ExportExpiredError, JobInfo, RetryConfig
from runner.sailthru.exports import filename_from_disposition, safe_filename

DATA = b"Profile Id,Email Hash\n" + b"".join(
    f"{i:024x},{hashlib.md5(str(i).encode()).hexdigest()}\n".encode() for i in range(20_000)
)
EXPORT_PATH = "/sailthru/export/2016/12/07/d699e4bd562eec65a1e0c2f47b111111"


def _parts(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.part"))


def test_download_writes_the_whole_file_private_and_atomically(make_client, tmp_path) -> None:
    dest = tmp_path / "out" / "main.csv"
    with ScriptedServer([serve_file(DATA)]) as server:
        result = make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert dest.read_bytes() == DATA
    assert result.path == dest and result.bytes == len(DATA) and not result.resumed
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert _parts(dest.parent) == []
    assert server.requests[0].headers["accept-encoding"] == "identity"


def test_a_cut_download_resumes_with_range(make_client, fake_clock, tmp_path) -> None:
    dest = tmp_path / "main.csv"
    cut = len(DATA) // 3
    with ScriptedServer([serve_file(DATA, cut_at=cut), serve_file(DATA)]) as server:
        result = make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert dest.read_bytes() == DATA and result.resumed
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    first, second = server.requests
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={cut}-"
    assert second.headers["if-range"] == '"v1"'
    assert len(fake_clock.sleeps) == 1


def test_a_cut_download_starts_over_when_the_server_ignores_range(make_client, tmp_path) -> None:
    dest = tmp_path / "main.csv"
    script = [serve_file(DATA, ranges=False, cut_at=1000), serve_file(DATA, ranges=False)]
    with ScriptedServer(script) as server:
        result = make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert dest.read_bytes() == DATA and not result.resumed
    assert result.bytes == len(DATA)
    assert server.requests[1].headers["range"] == "bytes=1000-"  # asked, got a 200


def test_a_part_left_by_a_crash_is_resumed_by_the_next_call(make_client, tmp_path) -> None:
    dest = tmp_path / "main.csv"
    with ScriptedServer([serve_file(DATA, cut_at=5000), serve_file(DATA)]) as server:
        url = server.url + EXPORT_PATH
        one_attempt = make_client(server.url, retry=RetryConfig(attempts=1))
        with pytest.raises(ApiError, match=r"cut short|broke") as caught:
            one_attempt.download_export(url, dest)
        assert caught.value.transient
        assert not dest.exists()
        [part] = _parts(tmp_path)
        assert part.read_bytes() == DATA[:5000]
        assert stat.S_IMODE(part.stat().st_mode) == 0o600
        result = make_client(server.url).download_export(url, dest)
    assert result.resumed and dest.read_bytes() == DATA
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert server.requests[1].headers["range"] == "bytes=5000-"
    assert _parts(tmp_path) == []


def test_a_part_of_another_link_is_never_resumed(make_client, tmp_path) -> None:
    dest = tmp_path / "main.csv"
    (tmp_path / ".main.csv.0123456789abcdef.part").write_bytes(b"yesterday's export")
    with ScriptedServer([serve_file(DATA)]) as server:
        result = make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert not result.resumed and dest.read_bytes() == DATA
    assert "range" not in server.requests[0].headers
    assert _parts(tmp_path) == []


def test_stale_parts_are_found_for_names_with_glob_characters(make_client, tmp_path) -> None:
    dest = tmp_path / "main[1].csv"
    stale = tmp_path / ".main[1].csv.0123456789abcdef.part"
    unrelated = tmp_path / ".main1.csv.0123456789abcdef.part"
    stale.write_bytes(b"old")
    unrelated.write_bytes(b"someone else's")
    with ScriptedServer([serve_file(DATA)]) as server:
        make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert dest.read_bytes() == DATA
    assert not stale.exists() and unrelated.exists()


def test_a_short_body_is_not_accepted(make_client, fake_clock, tmp_path) -> None:
    dest = tmp_path / "main.csv"

    def lying(handler, received):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(DATA) + 10))
        handler.end_headers()
        handler.wfile.write(DATA)
        handler.close_connection = True

    with ScriptedServer([lying]) as server, pytest.raises(Exception, match=r"cut short|broke"):
        make_client(server.url).download_export(server.url + EXPORT_PATH, dest)
    assert not dest.exists()
    assert len(server.requests) == 4


@pytest.mark.parametrize("status", [403, 404, 410])
def test_an_expired_link_says_so_and_when_it_was_created(make_client, fake_clock, tmp_path, status):
    created = "Wed, 07 Dec 2016 15:44:10 -0500"
    url_path = EXPORT_PATH
    with ScriptedServer([status_only(status)]) as server:
        url = server.url + url_path
        with pytest.raises(ExportExpiredError) as caught:
            make_client(server.url).download_export(url, tmp_path / "x.csv", created=created)
    message = str(caught.value)
    assert "expired" in message and created in message
    assert url_path not in message and url not in message
    assert len(server.requests) == 1 and fake_clock.sleeps == []
    assert not (tmp_path / "x.csv").exists()


def test_download_job_export_refuses_an_expired_job(make_client, tmp_path) -> None:
    job = JobInfo.from_fields(
        {"job_id": "j1", "status": "completed", "expired": True, "end_time": "Mon, 01 Jan 2024"}
    )
    with (
        ScriptedServer([serve_file(DATA)]) as server,
        pytest.raises(ExportExpiredError, match="created Mon, 01 Jan 2024"),
    ):
        make_client(server.url).download_job_export(job, tmp_path)
    assert server.requests == []


def test_download_job_export_needs_an_export_url(make_client, tmp_path) -> None:
    job = JobInfo.from_fields({"job_id": "j2", "status": "pending"})
    with (
        ScriptedServer([serve_file(DATA)]) as server,
        pytest.raises(ApiError, match="no export file") as caught,
    ):
        make_client(server.url).download_job_export(job, tmp_path)
    assert not isinstance(caught.value, ExportExpiredError)
    assert server.requests == []


def test_into_a_directory_uses_the_safe_server_name(make_client, tmp_path) -> None:
    headers = {"Content-Disposition": 'attachment; filename="Main List;2024.csv"'}
    with ScriptedServer([serve_file(DATA, headers=headers)]) as server:
        result = make_client(server.url).download_export(server.url + EXPORT_PATH, tmp_path)
    assert result.path == tmp_path / "Main List_2024.csv"
    assert result.path.read_bytes() == DATA


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="../../etc/main_list.csv"',
        "attachment; filename*=UTF-8''..%2F..%2Foutside.csv",
        'attachment; filename="..\\outside.csv"',
        'attachment; filename=".bashrc"',
        'attachment; filename=".."',
        'attachment; filename="a\x1b[31m.csv"',
    ],
)
def test_a_server_file_name_that_leaves_the_folder_is_refused(
    make_client, tmp_path, disposition
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    headers = {"Content-Disposition": disposition}
    with (
        ScriptedServer([serve_file(DATA, headers=headers)]) as server,
        pytest.raises(ApiError, match="not a plain file name") as raised,
    ):
        make_client(server.url).download_export(server.url + EXPORT_PATH, folder)
    assert "nothing was written" in raised.value.message
    assert len(server.requests) == 1  # refused, not retried
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["exports"]


def test_a_string_ending_with_a_slash_is_a_directory_to_create(make_client, tmp_path) -> None:
    headers = {"Content-Disposition": "attachment; filename=main_list.csv"}
    with ScriptedServer([serve_file(DATA, headers=headers)]) as server:
        client = make_client(server.url)
        result = client.download_export(server.url + EXPORT_PATH, f"{tmp_path}/exports/")
    assert result.path == tmp_path / "exports" / "main_list.csv"
    assert result.path.read_bytes() == DATA


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("main_list.csv", "main_list.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\x.csv", "x.csv"),
        (".hidden", "hidden"),
        ("..", "export.csv"),
        ("", "export.csv"),
        (None, "export.csv"),
        ("a;b|c$d.csv", "a_b_c_d.csv"),
        ("über.csv", "_ber.csv"),
    ],
)
def test_safe_filename(name, safe) -> None:
    assert safe_filename(name) == safe


def test_filename_from_disposition() -> None:
    assert filename_from_disposition('attachment; filename="a b.csv"') == "a b.csv"
    assert filename_from_disposition("attachment; filename=list_1.csv") == "list_1.csv"
    assert filename_from_disposition("attachment; filename*=UTF-8''%C3%BCber.csv") == "über.csv"
    assert filename_from_disposition("attachment") is None
    assert filename_from_disposition(None) is None


def test_an_unreachable_link_is_not_shown_even_in_the_traceback(make_client, tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{EXPORT_PATH}"
    with pytest.raises(ApiError) as caught:
        make_client(url).download_export(url, tmp_path / "x.csv")
    assert caught.value.transient
    shown = "".join(traceback.format_exception(caught.value))
    assert "cannot reach http://127.0.0.1" in shown
    assert EXPORT_PATH not in shown and "d699e4bd" not in shown
