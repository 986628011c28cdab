"""The official Python client, ``sailthru-client==2.3.5``, drives the sandbox unchanged."""

from __future__ import annotations

import csv
import hashlib
import io
import time
from pathlib import Path

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.sailthru.signature import sign
from runner.sandbox import Sandbox
from tests.sandbox.conftest import poll


def download_rows(url: str) -> list[list[str]]:
    with requests.get(url, timeout=10) as response:
        assert response.status_code == 200
        return list(csv.reader(io.StringIO(response.text)))


def test_import_by_emails_then_export_has_their_hashes(client: SailthruClient) -> None:
    emails = ["Ann@Example.com", "bob@example.org", "carol@example.net"]
    response = client.api_post(
        "job", {"job": "import", "list": "Compat", "emails": ",".join(emails)}
    )
    assert response.is_ok(), response.get_body()
    submitted = response.get_body()
    assert submitted["status"] == "pending"
    assert submitted["name"] == "List Import: Compat"
    assert submitted["list"] == "Compat"
    assert len(submitted["job_id"]) == 24
    int(submitted["job_id"], 16)

    finished = poll(client, submitted["job_id"])
    assert finished["status"] == "completed"
    assert finished["error"] is False
    assert finished["start_time"] and finished["end_time"]

    export = client.api_post("job", {"job": "export_list_data", "list": "Compat"}).get_body()
    assert export["name"] == "Export All List Data: Compat"
    done = poll(client, export["job_id"])
    assert done["status"] == "completed"
    assert done["filename"] == "compat.csv"
    rows = download_rows(done["export_url"])
    assert rows[0][:2] == ["Profile Id", "Email Hash"]
    hashes = {row[1] for row in rows[1:]}
    assert hashes == {hashlib.md5(e.lower().encode()).hexdigest() for e in emails}


def test_import_by_file_upload_multipart(client: SailthruClient, tmp_path: Path) -> None:
    path = tmp_path / "users.txt"
    path.write_text("dana@example.com\nerin@example.com\n", encoding="utf-8")
    response = client.api_post(
        "job", {"job": "import", "list": "Uploaded", "file": str(path)}, ["file"]
    )
    assert response.is_ok(), response.get_body()
    assert poll(client, response.get_body()["job_id"])["status"] == "completed"

    export = client.api_post(
        "job", {"job": "export_list_data", "list": "Uploaded", "hash_algo": "sha256"}
    )
    done = poll(client, export.get_body()["job_id"])
    hashes = {row[1] for row in download_rows(done["export_url"])[1:]}
    assert hashes == {
        hashlib.sha256(b"dana@example.com").hexdigest(),
        hashlib.sha256(b"erin@example.com").hexdigest(),
    }


def test_polling_sees_pending_running_completed(sandbox_factory) -> None:
    sandbox = sandbox_factory(job_time=0.8)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job_id = client.api_post("job", {"job": "export_list_data", "list": "VIP"}).get_body()["job_id"]
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = client.api_get("job", {"job_id": job_id}).get_body()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] == "completed":
            break
        time.sleep(0.03)
    assert seen == ["pending", "running", "completed"]


def test_rate_limit_info_is_read_from_headers(client: SailthruClient) -> None:
    client.api_get("job", {"job_id": "0" * 24})
    info = client.get_last_rate_limit_info("job", "GET")
    assert info is not None
    assert info["limit"] == 300
    assert info["remaining"] == 299
    assert info["reset"] % 60 == 0 and info["reset"] > time.time()
    client.api_post("job", {"job": "export_scheduled_sends"})
    post_info = client.get_last_rate_limit_info("job", "POST")
    assert post_info == {"limit": 40, "remaining": 39, "reset": post_info["reset"]}


def test_bad_secret_is_401_error_5(sandbox: Sandbox) -> None:
    bad = SailthruClient(sandbox.api_key, "not-the-secret", sandbox.url)
    response = bad.api_get("job", {"job_id": "0" * 24})
    assert response.get_status_code() == 401
    assert response.get_body() == {"error": 5, "errormsg": "Signature hash does not match"}
    error = response.get_error()
    assert error.get_error_code() == 5


def test_unknown_api_key_is_error_3(sandbox: Sandbox) -> None:
    response = SailthruClient("who", sandbox.secret, sandbox.url).api_get("settings", {})
    assert response.get_body()["error"] == 3


def test_settings_answers_for_credential_checks(client: SailthruClient) -> None:
    response = client.api_get("settings", {})
    assert response.is_ok()
    assert response.get_status_code() == 200


# Every row of job-api.txt's error table: payload -> (HTTP code, error code, message).
ERROR_TABLE = [
    ({"job": "export_list_data"}, (400, 2, "Missing required parameter: list")),
    ({"job": "export_list_data", "list": "No Such List"}, (404, 99, "List not found")),
    (
        {"job": "export_purchase_log", "start_date": 20160101},
        (400, 18, "Missing required parameter: start_date,end_date"),
    ),
    (
        {"job": "export_purchase_log", "start_date": "2016-01-01", "end_date": 20160131},
        (400, 18, "Invalid start_date/end_date fromat"),
    ),
    (
        {"job": "export_purchase_log", "start_date": 20160201, "end_date": 20160131},
        (400, 18, "Invalid date range. Start Date canot be later than End Date"),
    ),
    (
        {"job": "export_purchase_log", "start_date": 20160101, "end_date": 20160301},
        (400, 18, "Invalid date range. Up to 31 days allowed but 61 given"),
    ),
    ({"job": "import", "emails": "a@example.com"}, (400, 2, "Missing required parameter: list")),
    ({"job": "import", "list": "  ", "emails": "a@example.com"}, (200, 99, "Invalid list name:")),
    (
        {"job": "import", "list": "L"},
        (400, 99, "One of the following parameters is required: emails, url, or file"),
    ),
    ({"job": "import", "list": "L", "url": "ftp://example.com/x.csv"}, (400, 99, "Invalid URL")),
    ({"job": "purchase_import"}, (400, 99, "File Parameter is required")),
    ({"job": "purchase_import", "file": "/tmp/purchases.jsonl"}, (400, 99, "File not set")),
]


@pytest.mark.parametrize(("payload", "expected"), ERROR_TABLE)
def test_error_table_rows(client: SailthruClient, payload: dict, expected: tuple) -> None:
    response = client.api_post("job", payload) if "file" not in payload else None
    if response is None:
        # The path names a file the client never sends (json only): "File not set".
        response = client._http_request("job", client._prepare_json_payload(payload), "POST")
    http_status, code, message = expected
    assert response.get_status_code() == http_status
    assert response.get_body() == {"error": code, "errormsg": message}
    assert not response.is_ok()


def test_error_rows_about_the_uploaded_file(sandbox_factory, tmp_path: Path) -> None:
    sandbox = sandbox_factory(max_upload=100)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    big = tmp_path / "big.txt"
    big.write_text("x@example.com\n" * 20)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    too_big = client.api_post("job", {"job": "import", "list": "L", "file": str(big)}, ["file"])
    assert too_big.get_status_code() == 400
    assert too_big.get_body() == {
        "error": 99,
        "errormsg": "The size of the file exceeds the maximum upload file size Max upload is 1gb",
    }
    no_size = client.api_post("job", {"job": "purchase_import", "file": str(empty)}, ["file"])
    assert no_size.get_body() == {
        "error": 99,
        "errormsg": "Unable to determine the size of the file",
    }
    assert sandbox.submissions() == []
    assert list(sandbox.upload_dir.glob("*")) == []


def test_invalid_json_and_failed_upload_rows(sandbox: Sandbox) -> None:
    params = {"api_key": sandbox.api_key, "format": "json", "json": "{not json"}
    params["sig"] = sign(sandbox.secret, params)
    with requests.post(f"{sandbox.url}/job", data=params, timeout=10) as response:
        assert response.status_code == 400
        assert response.json() == {"error": 99, "errormsg": "Invalid JSON provided"}
    broken = b'--XYZ\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nk\r\n--XYZ\r\nbroken'
    with requests.post(
        f"{sandbox.url}/job",
        data=broken,
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        timeout=10,
    ) as response:
        assert response.status_code == 400
        assert response.json() == {"error": 99, "errormsg": "Failed to upload file"}


def test_reference_vector_is_accepted_by_the_sandbox(sandbox_factory) -> None:
    sandbox = sandbox_factory(api_key="0123456789abcdef", secret="s3cr3t")
    query = {
        "api_key": "0123456789abcdef",
        "format": "json",
        "json": '{"job_id": "635a04fa1628f53d490220d7"}',
        "sig": "af2433014d2bdf03218e9c5706f2c966",
    }
    with requests.get(f"{sandbox.url}/job", params=query, timeout=10) as response:
        # Authenticated (not 401): the job simply does not exist here.
        assert response.status_code == 404
        assert response.json()["error"] == 99
