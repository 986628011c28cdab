"""Every public answer body (tests/sailthru/fixtures/answers/) replayed through the client.

A loopback server answers the fixture's body exactly; the client's ``JobInfo`` and the job's
outputs (as the executor builds them) must be what the fixture expects, and a malformed body
must make the client raise one clear ``ApiError``, never anything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from scripted_servers import ScriptedServer, raw_answer

from runner.executor.prepare import job_outputs
from runner.sailthru.client import ApiError, JobInfo, SailthruClient

FIXTURES = Path(__file__).parent / "fixtures" / "answers"
# The job asked about when an answer names none: the seed's POST example's id.
KNOWN_JOB_ID = "582e31cd3c8aa9d6278b4567"
PAYLOAD = {"job": "import", "list": "List 1", "emails": "a@example.com"}


def _fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def _cases() -> list[Any]:
    cases = []
    for path in _fixture_files():
        for case in json.loads(path.read_text(encoding="utf-8"))["answers"]:
            cases.append(pytest.param(case, id=f"{path.stem}:{case['name']}"))
    return cases


def _body(case: dict[str, Any]) -> bytes:
    if "raw_body" in case:
        return str(case["raw_body"]).encode("utf-8")
    return json.dumps(case["body"]).encode("utf-8")


def _asked_job_id(case: dict[str, Any]) -> str:
    body = case.get("body")
    job_id = body.get("job_id") if isinstance(body, dict) else None
    return job_id if isinstance(job_id, str) and job_id else KNOWN_JOB_ID


def _replay(client: SailthruClient, case: dict[str, Any]) -> JobInfo:
    if case["request"] == "POST":
        return client.submit_job(PAYLOAD)
    return client.get_job(_asked_job_id(case))


def test_every_fixture_file_names_its_source_and_is_listed_in_the_readme() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert _fixture_files()
    for path in _fixture_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["source"], path.name
        assert f"`{path.name}`" in readme, f"{path.name} is not listed in the fixtures' README"
        for case in data["answers"]:
            assert case["request"] in ("GET", "POST"), case["name"]
            assert ("body" in case) != ("raw_body" in case), case["name"]
            assert set(case["expect"]) <= {"job", "outputs", "outputs_without", "error"}


@pytest.mark.parametrize("case", _cases())
def test_answer_replayed_through_the_client(case: dict[str, Any], make_client) -> None:
    behaviour = raw_answer(
        case["http_status"], _body(case), case.get("content_type", "application/json")
    )
    expect = case["expect"]
    with ScriptedServer([behaviour]) as server:
        client = make_client(server.url)
        if "error" in expect:
            with pytest.raises(ApiError) as caught:
                _replay(client, case)
            _check_error(caught.value, expect["error"])
            return
        info = _replay(client, case)
    for name, value in expect.get("job", {}).items():
        assert getattr(info, name) == value, name
    known = _asked_job_id(case) if case["request"] == "GET" else info.job_id
    outputs = job_outputs(info, known)
    json.dumps(outputs)  # outputs go to the state and the report as JSON
    assert "None" not in [outputs.get(name) for name in ("job_id", "name", "end_time")]
    for name, value in expect.get("outputs", {}).items():
        assert outputs.get(name, "<missing>") == value, name
    for name in expect.get("outputs_without", []):
        assert outputs.get(name) is None, name


def _check_error(error: ApiError, expected: dict[str, Any]) -> None:
    assert expected["message"] in error.message
    assert expected["message"] in str(error)
    assert error.code == expected["code"]
    if "http_status" in expected:
        assert error.http_status == expected["http_status"]
    assert error.transient is expected["transient"]
    assert error.request in ("GET /job", "POST /job")
