"""Signed calls: what reaches the server, and the typed results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted_servers import API_KEY, SECRET, ScriptedServer, answer, job_answer

from runner.sailthru.client import ApiError, JobInfo, MissingCredentialsError, SailthruClient
from runner.sailthru.signature import sign


def test_submit_job_posts_a_signed_form_and_returns_job_info(make_client) -> None:
    with ScriptedServer([job_answer("58487498e9328b50588b4b54")]) as server:
        job = make_client(server.url).submit_job(
            {"job": "import", "list": "L", "emails": "a@x.com"}
        )
    assert isinstance(job, JobInfo)
    assert job.job_id == "58487498e9328b50588b4b54"
    assert job.status == "pending"
    assert job.name == "List Import: L"
    [request] = server.requests
    assert request.method == "POST" and request.path == "/job"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert set(request.form) == {"api_key", "format", "json", "sig"}
    assert request.form["api_key"] == API_KEY and request.form["format"] == "json"
    assert request.payload == {"job": "import", "list": "L", "emails": "a@x.com"}
    unsigned = {k: v for k, v in request.form.items() if k != "sig"}
    assert request.form["sig"] == sign(SECRET, unsigned)


def test_get_job_sends_signed_query_and_keeps_every_field(make_client) -> None:
    url = "https://s3.example.com/sailthru/export/2016/12/07/d699e4bd562eec65a1e0c2f47b111111"
    behaviour = job_answer(
        status="completed",
        export_url=url,
        filename="list_1.csv",
        start_time="Wed, 07 Dec 2016 15:44:09 -0500",
        end_time="Wed, 07 Dec 2016 15:44:10 -0500",
        list="List 1",
    )
    with ScriptedServer([behaviour]) as server:
        job = make_client(server.url).get_job("abc123")
    [request] = server.requests
    assert request.method == "GET" and request.payload == {"job_id": "abc123"}
    assert request.query["sig"] == sign(
        SECRET, {k: v for k, v in request.query.items() if k != "sig"}
    )
    assert job.job_id == "abc123" and job.succeeded and job.finished and not job.failed
    assert job.export_url == url and job.filename == "list_1.csv" and not job.expired
    assert job.fields["list"] == "List 1"
    assert job.end_time == "Wed, 07 Dec 2016 15:44:10 -0500"
    assert url not in repr(job)  # export URLs are capabilities: never shown


@pytest.mark.parametrize(
    ("fields", "succeeded", "failed"),
    [
        ({"status": "completed"}, True, False),
        ({"status": "error"}, False, True),
        ({"status": "incomplete"}, False, True),
        ({"status": "pending"}, False, False),
        ({"status": "something_new"}, False, False),
    ],
)
def test_job_status_classification(fields, succeeded, failed) -> None:
    job = JobInfo.from_fields({"job_id": "x", **fields})
    assert (job.succeeded, job.failed, job.finished) == (succeeded, failed, succeeded or failed)


def test_error_message_of_a_failed_job() -> None:
    job = JobInfo.from_fields({"job_id": "x", "status": "error", "error_message": "Bad file"})
    assert job.failed and job.error_message == "Bad file"
    assert JobInfo.from_fields({"job_id": "x", "status": "completed"}).error_message is None


def test_expired_flag_is_read_from_the_answer() -> None:
    assert JobInfo.from_fields({"job_id": "x", "expired": True}).expired
    assert JobInfo.from_fields({"job_id": "x", "expired": "true"}).expired
    assert not JobInfo.from_fields({"job_id": "x", "error": False}).expired


def test_file_upload_is_a_multipart_part_outside_the_signature(make_client, tmp_path: Path) -> None:
    upload = tmp_path / "emails.csv"
    upload.write_bytes(b"email\na@example.com\nb@example.com\n")
    payload = {"job": "import", "list": "L", "file": str(upload)}
    with ScriptedServer([job_answer()]) as server:
        make_client(server.url).submit_job(payload, file=upload)
    [request] = server.requests
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert request.file == upload.read_bytes()
    assert request.file_name == "emails.csv"
    assert set(request.form) == {"api_key", "format", "json", "sig"}
    # The local path is not part of the API payload; the signature covers the text parts only.
    assert request.payload == {"job": "import", "list": "L"}
    assert request.form["sig"] == sign(
        SECRET, {k: request.form[k] for k in ("api_key", "format", "json")}
    )


def test_json_is_serialized_once_and_signed_over_that_exact_string(make_client) -> None:
    payload = {"job": "export_list_data", "list": "Über Liste", "fields": {"vars": {"a": 1}}}
    with ScriptedServer([job_answer()]) as server:
        make_client(server.url).submit_job(payload)
    [request] = server.requests
    raw = request.form["json"]
    assert json.loads(raw) == payload
    assert request.form["sig"] == sign(SECRET, {"api_key": API_KEY, "format": "json", "json": raw})


def test_from_env_reads_the_three_variables() -> None:
    env = {
        "SAILTHRU_API_KEY": "k" * 8,
        "SAILTHRU_API_SECRET": "s" * 12,
        "SAILTHRU_API_URL": "http://127.0.0.1:9/",
    }
    with SailthruClient.from_env(env) as client:
        assert client.base_url == "http://127.0.0.1:9"
        assert client.api_key == "k" * 8
    with SailthruClient.from_env(
        {k: v for k, v in env.items() if k != "SAILTHRU_API_URL"}
    ) as client:
        assert client.base_url == "https://api.sailthru.com"


def test_from_env_names_every_missing_variable() -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        SailthruClient.from_env({})
    message = str(caught.value)
    assert "SAILTHRU_API_KEY" in message and "SAILTHRU_API_SECRET" in message
    assert "\n" not in message
    with pytest.raises(MissingCredentialsError, match="set SAILTHRU_API_SECRET in"):
        SailthruClient.from_env({"SAILTHRU_API_KEY": "key-1"})


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:99999", "has a bad port"),
        ("http://host:abc", "has a bad port"),
        ("ftp://files.example.com", "is not an http(s) address"),
        ("api.sailthru.com", "is not an http(s) address"),
    ],
)
def test_from_env_refuses_an_api_url_it_cannot_use(url: str, says: str) -> None:
    env = {"SAILTHRU_API_KEY": "k" * 8, "SAILTHRU_API_SECRET": "s" * 12, "SAILTHRU_API_URL": url}
    with pytest.raises(MissingCredentialsError) as caught:
        SailthruClient.from_env(env)
    assert str(caught.value).startswith(f"SAILTHRU_API_URL={url!r} {says}")
    assert "; set it to the API's address" in str(caught.value)


def test_repr_and_errors_never_show_the_secret(make_client) -> None:
    body = {"error": 5, "errormsg": f"Signature hash does not match (secret {SECRET})"}
    with ScriptedServer([answer(401, body)]) as server:
        client = make_client(server.url)
        assert SECRET not in repr(client)
        with pytest.raises(Exception) as caught:
            client.get_job("x")
    assert SECRET not in str(caught.value)
    assert "SAILTHRU_API_SECRET" in str(caught.value)


def test_a_payload_without_job_is_refused_before_sending(make_client) -> None:
    with (
        ScriptedServer([job_answer()]) as server,
        pytest.raises(Exception, match="no 'job' key"),
    ):
        make_client(server.url).submit_job({"list": "L"})
    assert server.requests == []


def test_api_errors_survive_pickling() -> None:
    import pickle

    from runner.sailthru.client import AmbiguousSubmitError, ApiError

    error = AmbiguousSubmitError("boom", code=9, http_status=503, request="POST /job")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, AmbiguousSubmitError) and isinstance(copy, ApiError)
    assert (copy.code, copy.http_status, copy.transient, str(copy)) == (9, 503, False, str(error))


def test_yaml_values_are_serialized_as_text() -> None:
    import datetime as dt

    from runner.sailthru.wire import serialize_payload

    payload = {"job": "export_purchase_log", "start_date": dt.date(2024, 1, 31), "p": Path("a/b")}
    assert json.loads(serialize_payload(payload)) == {
        "job": "export_purchase_log",
        "start_date": "2024-01-31",
        "p": "a/b",
    }
    with pytest.raises(TypeError, match="cannot send a object"):
        serialize_payload({"x": object()})


def test_delete_sends_signed_params_in_the_query(make_client) -> None:
    with ScriptedServer([answer(200, {"ok": True})]) as server:
        assert make_client(server.url).call("DELETE", "list", {"list": "Old"}) == {"ok": True}
    [request] = server.requests
    assert request.method == "DELETE" and request.path == "/list" and request.form == {}
    assert request.payload == {"list": "Old"}
    assert request.query["sig"] == sign(
        SECRET, {k: v for k, v in request.query.items() if k != "sig"}
    )


def test_a_redirect_is_a_clear_error_not_a_post_turned_get(make_client) -> None:
    # Followed, a 301 turns the POST into a GET that loses the signed form.
    def redirect(handler, received) -> None:
        handler.read_body(received)
        handler.send_response(301)
        handler.send_header("Location", "https://api.example.com" + handler.path)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with ScriptedServer([redirect]) as server:
        client = make_client(server.url)
        with pytest.raises(ApiError) as post_error:
            client.submit_job({"job": "import", "list": "L", "emails": "a@x.com"})
        with pytest.raises(ApiError) as get_error:
            client.get_job("j1")
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/job"), ("GET", "/job")]
    for error in (post_error.value, get_error.value):
        assert error.http_status == 301 and not error.transient
        assert "redirected to https://api.example.com/***" in str(error)
        assert "SAILTHRU_API_URL" in str(error) and "sig=" not in str(error)
