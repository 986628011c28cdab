"""The wire format on the server side: the variants real clients send, and bad input."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from runner.sailthru.signature import sign
from runner.sandbox import Sandbox
from runner.testing import wait_for_job


def signed(sandbox: Sandbox, payload_text: str) -> dict[str, str]:
    params = {"api_key": sandbox.api_key, "format": "json", "json": payload_text}
    params["sig"] = sign(sandbox.secret, params)
    return params


def multipart(
    fields: dict[str, str], file_headers: str | None, content: bytes, close: bool = True
) -> bytes:
    parts = [
        f'--B0UND\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    if file_headers is not None:
        parts.append(b"--B0UND\r\n" + file_headers.encode() + b"\r\n\r\n" + content + b"\r\n")
    return b"".join(parts) + (b"--B0UND--\r\n" if close else b"")


def post_multipart(sandbox: Sandbox, body: bytes) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/job",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=B0UND"},
        timeout=10,
    )


def import_payload(list_name: str, with_file_key: bool = False) -> str:
    payload = {"job": "import", "list": list_name}
    if with_file_key:
        payload["file"] = "/home/someone/users.csv"
    return json.dumps(payload)


def members(sandbox: Sandbox, list_name: str) -> set[str]:
    """Emails of a list, read through the API's own export."""
    params = signed(sandbox, json.dumps({"job": "export_list_data", "list": list_name}))
    with requests.post(f"{sandbox.url}/job", data=params, timeout=10) as response:
        job_id = response.json()["job_id"]
    job = wait_for_job(sandbox, job_id)
    with requests.get(job["export_url"], timeout=10) as response:
        return {line.split(",")[1] for line in response.text.splitlines()[1:]}


@pytest.mark.parametrize(
    "file_headers",
    [
        'Content-Disposition: form-data; name="file"; filename="users.csv"',
        'Content-Disposition: form-data; name="file"; filename="users.csv"\r\n'
        "Content-Type: text/plain",
        'Content-Disposition: form-data; name="file"; filename="users.csv"\r\n'
        "Content-Type: application/octet-stream",
    ],
    ids=["no-content-type", "text-plain", "octet-stream"],
)
@pytest.mark.parametrize("with_file_key", [False, True], ids=["clean-json", "file-key-in-json"])
def test_file_part_variants_are_accepted(
    sandbox: Sandbox, file_headers: str, with_file_key: bool
) -> None:
    body = multipart(
        signed(sandbox, import_payload("Variants", with_file_key)),
        file_headers,
        b"email,name\r\nfay@example.com,Fay\r\ngus@example.com,Gus\r\n",
    )
    with post_multipart(sandbox, body) as response:
        assert response.status_code == 200, response.text
        job_id = response.json()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "completed"
    assert len(members(sandbox, "Variants")) == 2


def test_file_part_without_a_filename_is_the_upload_and_not_signed(sandbox: Sandbox) -> None:
    body = multipart(
        signed(sandbox, import_payload("NoFilename")),
        'Content-Disposition: form-data; name="file"',
        b"kai@example.com\nlea@example.com\n",
    )
    with post_multipart(sandbox, body) as response:
        assert response.status_code == 200, response.text
        job_id = response.json()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "completed"
    assert len(members(sandbox, "NoFilename")) == 2


def test_missing_closing_boundary_is_tolerated(sandbox: Sandbox) -> None:
    body = multipart(
        signed(sandbox, import_payload("NoClose")),
        'Content-Disposition: form-data; name="file"; filename="u.txt"',
        b"hal@example.com\nida@example.com",
        close=False,
    )
    with post_multipart(sandbox, body) as response:
        assert response.status_code == 200, response.text
        job_id = response.json()["job_id"]
    assert wait_for_job(sandbox, job_id)["status"] == "completed"
    assert len(members(sandbox, "NoClose")) == 2


def test_signature_is_checked_over_the_json_text_as_received(sandbox: Sandbox) -> None:
    compact = '{"job":"import","list":"Sig","emails":"jo@example.com"}'
    spaced = '{"job": "import", "list": "Sig", "emails": "jo@example.com"}'
    for text in (compact, spaced):
        with requests.post(f"{sandbox.url}/job", data=signed(sandbox, text), timeout=10) as r:
            assert r.status_code == 200
    # Signed over one serialization, sent with another: rejected.
    params = signed(sandbox, compact)
    params["json"] = spaced
    with requests.post(f"{sandbox.url}/job", data=params, timeout=10) as response:
        assert response.status_code == 401
        assert response.json() == {"error": 5, "errormsg": "Signature hash does not match"}


def test_json_null_is_accepted_for_settings(sandbox: Sandbox) -> None:
    with requests.get(f"{sandbox.url}/settings", params=signed(sandbox, "null"), timeout=10) as r:
        assert r.status_code == 200
        assert "domain" in r.json()
    with requests.get(f"{sandbox.url}/job", params=signed(sandbox, "null"), timeout=10) as r:
        assert r.status_code == 400
        assert r.json() == {"error": 2, "errormsg": "Missing required parameter: job_id"}


def test_flat_parameters_without_json_are_understood(sandbox: Sandbox) -> None:
    params = {"api_key": sandbox.api_key, "format": "json", "job": "import", "list": "Flat"}
    params["emails"] = "kim@example.com"
    params["sig"] = sign(sandbox.secret, params)
    with requests.post(f"{sandbox.url}/job", data=params, timeout=10) as response:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "List Import: Flat"


@pytest.mark.parametrize(
    "send",
    [
        lambda url: requests.get(f"{url}/job?api_key=k&json=%FF%FE&sig=x", timeout=10),
        lambda url: requests.post(
            f"{url}/job",
            data=b"api_key=k&json=\xff\xfe&sig=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        ),
        lambda url: requests.post(
            f"{url}/job",
            data=multipart({"api_key": "k", "json": "\u00e9"}, None, b"").replace(
                "\u00e9".encode(), b"\xe9"
            ),
            headers={"Content-Type": "multipart/form-data; boundary=B0UND"},
            timeout=10,
        ),
    ],
    ids=["query", "form", "multipart-field"],
)
def test_non_utf8_input_is_error_6(sandbox: Sandbox, send) -> None:
    with send(sandbox.url) as response:
        assert response.status_code == 400
        assert response.json() == {"error": 6, "errormsg": "Invalid UTF-8 input"}


def test_json_that_is_not_an_object_is_invalid_json(sandbox: Sandbox) -> None:
    with requests.post(f"{sandbox.url}/job", data=signed(sandbox, "[1, 2]"), timeout=10) as r:
        assert r.status_code == 400
        assert r.json() == {"error": 99, "errormsg": "Invalid JSON provided"}


def test_unsupported_method_and_unknown_endpoint(sandbox: Sandbox) -> None:
    with requests.put(f"{sandbox.url}/job", timeout=10) as response:
        assert response.status_code == 405
        assert response.json() == {"error": 1, "errormsg": "Unsupported HTTP method"}
    with requests.get(f"{sandbox.url}/nothing", timeout=10) as response:
        assert response.status_code == 404
        assert set(response.json()) == {"error", "errormsg"}
    with requests.post(f"{sandbox.url}/settings", data=signed(sandbox, "{}"), timeout=10) as r:
        assert r.status_code == 405


def test_every_answer_has_rate_limit_headers(sandbox: Sandbox) -> None:
    for response in (
        requests.get(f"{sandbox.url}/job", timeout=10),
        requests.post(f"{sandbox.url}/job", data=signed(sandbox, "{oops"), timeout=10),
        requests.get(f"{sandbox.url}/settings", params=signed(sandbox, "{}"), timeout=10),
    ):
        with response:
            assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(
                response.headers
            )
            assert "Retry-After" not in response.headers


def test_streamed_upload_over_the_cap_is_refused_and_not_kept(sandbox_factory) -> None:
    sandbox = sandbox_factory(max_upload=10_000)
    head = multipart(signed(sandbox, import_payload("Big")), None, b"").removesuffix(
        b"--B0UND--\r\n"
    )
    head += b'--B0UND\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        yield head
        for _ in range(100):
            yield b"x@example.com\n" * 100

    with requests.post(
        f"{sandbox.url}/job",
        data=chunked(),
        headers={"Content-Type": "multipart/form-data; boundary=B0UND"},
        timeout=10,
    ) as response:
        assert response.status_code == 400
        assert response.json()["errormsg"].startswith("The size of the file exceeds")
    assert list(sandbox.upload_dir.glob("*")) == []
    assert sandbox.submissions() == []


def test_declared_size_over_one_gigabyte_is_refused_before_reading(sandbox: Sandbox) -> None:
    parts = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest("POST", "/job")
        connection.putheader("Content-Type", "multipart/form-data; boundary=B0UND")
        connection.putheader("Content-Length", str(2 * 1024**3))
        connection.endheaders()
        connection.send(b"--B0UND\r\n")
        response = connection.getresponse()
        assert response.status == 400
        body = json.loads(response.read())
        assert body["errormsg"].startswith("The size of the file exceeds")
    finally:
        connection.close()
