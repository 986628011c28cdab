"""The profile jobs on the sandbox: ``update`` changes profiles (from emails, a query, a
JSON-lines file or its URL), ``snapshot`` counts the users of a query and mails its report."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Sandbox
from tests.sandbox.conftest import poll


def submit(client: SailthruClient, payload: dict[str, Any], path: Path | None = None) -> dict:
    if path is None:
        response = client.api_post("job", payload)
    else:
        response = client.api_post("job", {**payload, "file": str(path)}, ["file"])
    assert response.is_ok(), response.get_body()
    return poll(client, response.get_body()["job_id"])


def refusal(client: SailthruClient, payload: dict[str, Any]) -> dict:
    response = client.api_post("job", payload)
    assert not response.is_ok()
    return response.get_body()


def database(sandbox: Sandbox) -> sqlite3.Connection:
    assert sandbox.data_dir is not None
    return sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3")


def profile(sandbox: Sandbox, email: str) -> dict[str, Any] | None:
    with closing(database(sandbox)) as db:
        row = db.execute(
            "SELECT id, vars, lists, optout_time FROM users WHERE email = ?", (email,)
        ).fetchone()
        if row is None:
            return None
        optout = db.execute(
            "SELECT optout FROM profile_optouts WHERE user_id = ?", (row[0],)
        ).fetchone()
    return {
        "vars": json.loads(row[1]),
        "lists": set(filter(None, row[2].split("\x1f"))),
        "optout_time": row[3],
        "optout": optout[0] if optout else None,
    }


def members(sandbox: Sandbox, name: str) -> set[str]:
    with closing(database(sandbox)) as db:
        rows = db.execute(
            "SELECT u.email FROM list_members m JOIN users u ON u.id = m.user_id"
            " JOIN lists l ON l.id = m.list_id WHERE l.name = ?",
            (name,),
        ).fetchall()
    return {row[0] for row in rows}


def test_update_from_emails_sets_vars_lists_and_optout_and_creates_profiles(
    client: SailthruClient, sandbox: Sandbox
) -> None:
    job = submit(
        client,
        {
            "job": "update",
            "emails": "user001@example.com, New.Person@example.com,not-an-address",
            "update": {
                "vars": {"plan": "pro", "tier": "gold"},
                "lists": {"Gold Members": 1, "Main Newsletter": 0},
                "optout": "blast",
            },
        },
    )
    assert job["status"] == "completed", job
    assert job["name"] == "Bulk Update"
    assert (job["update_count"], job["profiles_created"]) == (2, 1)
    assert (job["list_adds"], job["list_removals"]) == (2, 1)
    first = profile(sandbox, "user001@example.com")
    assert first is not None
    assert first["vars"]["plan"] == "pro" and first["vars"]["userId"] == 1  # merged
    assert "Gold Members" in first["lists"] and "Main Newsletter" not in first["lists"]
    assert first["optout"] == "blast" and first["optout_time"]
    assert members(sandbox, "Gold Members") == {"user001@example.com", "new.person@example.com"}
    assert "user001@example.com" not in members(sandbox, "Main Newsletter")
    # The export of the new list has a column for each var the update gave.
    export = submit(client, {"job": "export_list_data", "list": "Gold Members"})
    with requests.get(export["export_url"], timeout=10) as response:
        rows = list(csv.reader(io.StringIO(response.text)))
    assert "tier" in rows[0] and len(rows) == 3


def test_update_from_a_query_changes_only_the_users_it_selects(
    client: SailthruClient, sandbox: Sandbox
) -> None:
    query = {"source_list": "VIP", "criteria": ["engagement_min"], "engagement": [5]}
    job = submit(client, {"job": "update", "query": query, "update": {"vars": {"vip": True}}})
    assert job["status"] == "completed", job
    with closing(database(sandbox)) as db:
        tagged = {
            row[0]
            for row in db.execute(
                "SELECT email FROM users WHERE json_extract(vars, '$.vip') = 1"
            ).fetchall()
        }
        expected = {
            row[0]
            for row in db.execute(
                "SELECT u.email FROM users u JOIN list_members m ON m.user_id = u.id"
                " JOIN lists l ON l.id = m.list_id"
                " WHERE l.name = 'VIP' AND u.engagement IN ('active', 'engaged')"
            ).fetchall()
        }
    assert tagged == expected and 0 < len(tagged) < 25
    assert job["update_count"] == len(tagged) and job["profiles_created"] == 0


def test_update_from_a_file_applies_each_line_and_the_common_update(
    client: SailthruClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    lines = [
        {"id": "user002@example.com", "key": "email", "vars": {"plan": "plus"}},
        {"email": "user003@example.com", "lists": {"VIP": 0}, "optout_email": "all"},
        {"id": "fresh@example.com", "lists": {"Engaged": 1}},
        {"id": "user002@example.com", "vars": {"seen": 2}},  # a repeat: applied in order
    ]
    path = tmp_path / "updates.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    job = submit(client, {"job": "update", "update": {"vars": {"synced": 1}}}, path)
    assert job["status"] == "completed", job
    assert (job["update_count"], job["profiles_created"]) == (3, 1)
    second = profile(sandbox, "user002@example.com")
    assert second is not None and second["vars"]["plan"] == "plus"
    assert second["vars"]["seen"] == 2 and second["vars"]["synced"] == 1
    third = profile(sandbox, "user003@example.com")
    assert third is not None and third["optout"] == "all" and "VIP" not in third["lists"]
    assert "fresh@example.com" in members(sandbox, "Engaged")


def test_an_update_by_sid_finds_the_profile(
    client: SailthruClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    with closing(database(sandbox)) as db:
        (sid,) = db.execute(
            "SELECT profile_id FROM users WHERE email = 'user004@example.com'"
        ).fetchone()
    path = tmp_path / "by-sid.jsonl"
    path.write_text(json.dumps({"id": sid, "key": "sid", "vars": {"by_sid": "yes"}}) + "\n")
    assert submit(client, {"job": "update"}, path)["status"] == "completed"
    found = profile(sandbox, "user004@example.com")
    assert found is not None and found["vars"]["by_sid"] == "yes"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"id": "user005@example.com", "vars": {"a": 1}}\n{"vars": {"a": 2}}\n',
            "Line 2: name the user",
        ),
        ('{"id": "user005@example.com", "lists": {"VIP": 2}}\n', "Line 1: lists.VIP: expected 1"),
        ('{"id": "user005@example.com"}\nnot json\n', "Line 2: not valid JSON"),
        (
            '{"id": "C-1", "key": "extid", "vars": {"a": 1}}\n',
            "Line 1: the sandbox knows users by email and sid only",
        ),
        ('{"id": "0123", "key": "sid"}\n', "Line 1: no user has the sid '0123'"),
    ],
)
def test_a_bad_line_fails_the_job_naming_it_and_writes_nothing(
    client: SailthruClient, sandbox: Sandbox, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    job = submit(client, {"job": "update"}, path)
    assert job["status"] == "error"
    assert job["error_message"].startswith(message), job
    user = profile(sandbox, "user005@example.com")
    assert user is not None and "a" not in user["vars"]


def test_update_from_a_url(client: SailthruClient, sandbox: Sandbox) -> None:
    body = b'{"id": "user006@example.com", "vars": {"from_url": 1}}\n'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        job = submit(client, {"job": "update", "url": f"{url}/updates.jsonl"})
    assert job["status"] == "completed", job
    user = profile(sandbox, "user006@example.com")
    assert user is not None and user["vars"]["from_url"] == 1


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A loopback HTTP server answering with ``handler``; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "payload",
    [
        {"job": "update", "update": {"vars": {"a": 1}}},
        {"job": "update", "emails": "a@example.com", "query": {}, "update": {"vars": {"a": 1}}},
    ],
)
def test_update_takes_exactly_one_source(client: SailthruClient, payload: dict) -> None:
    body = refusal(client, payload)
    assert body == {
        "error": 99,
        "errormsg": "You must pass one of the required parameters, but not more than one: "
        "emails, url, file, or query",
    }


def test_an_update_that_cannot_be_applied_is_refused(client: SailthruClient) -> None:
    payload = {"job": "update", "emails": "a@example.com", "update": {"optout": "sometimes"}}
    assert refusal(client, payload) == {"error": 99, "errormsg": "Invalid update: bad optout"}


def test_an_update_of_emails_without_update_creates_the_missing_profiles(
    client: SailthruClient, sandbox: Sandbox
) -> None:
    # "If an email address does not currently exist, a new user profile will be created."
    job = submit(client, {"job": "update", "emails": "brand.new@example.com"})
    assert job["status"] == "completed"
    assert (job["update_count"], job["profiles_created"]) == (1, 1)
    assert profile(sandbox, "brand.new@example.com") == {
        "vars": {}, "lists": set(), "optout_time": "", "optout": None
    }  # fmt: skip
    before = profile(sandbox, "user010@example.com")
    job = submit(client, {"job": "update", "emails": "user010@example.com", "update": {}})
    assert (job["update_count"], job["profiles_created"]) == (0, 0)
    assert "every address of `emails` already has a profile" in job["update_warning"]
    assert profile(sandbox, "user010@example.com") == before


def test_an_update_of_a_query_without_update_changes_nobody(client: SailthruClient) -> None:
    # The runner refuses it (futile: a query selects existing users only); the sandbox
    # takes it and says so in its answer.
    job = submit(client, {"job": "update", "query": {"source_list": "VIP"}})
    assert job["status"] == "completed" and job["update_count"] == 0
    assert "the users of `query` get only what it says" in job["update_warning"]


def test_a_file_line_without_changes_creates_the_profile(
    client: SailthruClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "new.jsonl"
    path.write_text('{"email": "from.a.line@example.com"}\n')
    job = submit(client, {"job": "update"}, path)
    assert job["status"] == "completed" and job["profiles_created"] == 1
    assert profile(sandbox, "from.a.line@example.com") is not None


def test_snapshot_counts_the_users_of_its_query_and_mails_the_report(
    client: SailthruClient, sandbox: Sandbox
) -> None:
    job = submit(
        client,
        {
            "job": "snapshot",
            "query": {"source_list": "Engaged"},
            "report_email": "team@example.com",
        },
    )
    assert job["status"] == "completed", job
    assert job["name"] == "Snapshot: Engaged"
    assert job["user_count"] == 120
    levels = {key: value for key, value in job.items() if key.startswith("engagement_")}
    assert sum(levels.values()) == 120 and levels["engagement_engaged"] > 0
    [message] = [m for m in sandbox.outbox if m["To"] == "team@example.com"]
    assert "user_count: 120" in message.get_content()


def test_snapshot_without_query_is_refused(client: SailthruClient) -> None:
    body = refusal(client, {"job": "snapshot", "report_email": "team@example.com"})
    assert body == {"error": 2, "errormsg": "Missing required parameter: query"}


def test_optout_none_clears_the_optout_time(client: SailthruClient, sandbox: Sandbox) -> None:
    for level in ("all", "none"):
        change = {"job": "update", "emails": "user007@example.com", "update": {"optout": level}}
        assert submit(client, change)["status"] == "completed"
        user = profile(sandbox, "user007@example.com")
        assert user is not None and user["optout"] == level
        assert bool(user["optout_time"]) is (level == "all")


def test_emails_sent_as_a_list_update_those_users_only(
    client: SailthruClient, sandbox: Sandbox
) -> None:
    # The runner refuses a list (the API takes one text); a client may still send one.
    emails = ["user008@example.com", "user009@example.com"]
    job = submit(client, {"job": "update", "emails": emails, "update": {"vars": {"listed": 1}}})
    assert job["status"] == "completed" and job["update_count"] == 2
    with closing(database(sandbox)) as db:
        rows = db.execute(
            "SELECT email FROM users WHERE json_extract(vars, '$.listed') = 1"
        ).fetchall()
    assert sorted(row[0] for row in rows) == emails


def test_a_query_entry_of_the_wrong_type_is_refused_at_post(client: SailthruClient) -> None:
    query = {"criteria": ["match"], "field": [["plan"]], "value": ["pro"]}
    payload = {"job": "update", "query": query, "update": {"vars": {"a": 1}}}
    assert refusal(client, payload) == {"error": 99, "errormsg": "Invalid query: bad field"}
    payload = {"job": "snapshot", "query": {"criteria": ["engagement_min"], "engagement": [9]}}
    assert refusal(client, payload) == {"error": 99, "errormsg": "Invalid query: bad engagement"}
