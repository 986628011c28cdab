"""The campaign jobs on the demo sandbox, through the official client: blast_query's CSV,
blast_save_list's list, blast_snapshot's counts and report, and their errors."""

from __future__ import annotations

import csv
import io
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.problems import SeedFileError
from runner.sandbox import Sandbox
from runner.sandbox.blasts import BLAST_QUERY_HEADER
from runner.sandbox.blastseed import DEMO_BLASTS
from runner.sandbox.seedfile import TIME_HINT, load_seed_file
from tests.sandbox.conftest import poll

WINTER, NEW_ARRIVALS, VIP = (blast[0] for blast in DEMO_BLASTS)
CLICKED = {"criteria": ["click_time"], "timerange": ["ever"]}


def run_job(client: SailthruClient, payload: dict) -> dict:
    response = client.api_post("job", payload)
    assert response.is_ok(), response.get_body()
    return poll(client, response.get_body()["job_id"])


def export(client: SailthruClient, payload: dict) -> tuple[dict, list[dict[str, str]]]:
    job = run_job(client, {"job": "blast_query", **payload})
    assert job["status"] == "completed", job
    with requests.get(job["export_url"], timeout=10) as response:
        rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == BLAST_QUERY_HEADER
    return job, [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def query(sandbox: Sandbox, sql: str, *args: object) -> list[tuple]:
    """Rows of the sandbox's data (its SQLite file, read as the sandbox runs)."""
    assert sandbox.data_dir is not None
    with closing(sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3")) as db:
        return db.execute(sql, args).fetchall()


def members(sandbox: Sandbox, name: str) -> set[str]:
    rows = query(
        sandbox,
        "SELECT u.profile_id FROM list_members m JOIN lists l ON l.id = m.list_id"
        " JOIN users u ON u.id = m.user_id WHERE l.name = ?",
        name,
    )
    return {row[0] for row in rows}


def test_blast_query_exports_every_recipient_with_opens_and_clicks(client, sandbox):
    job, rows = export(client, {"blast_id": WINTER})
    assert job["filename"] == f"blast_{WINTER}.csv" and job["blast_id"] == WINTER
    assert job["name"] == "Blast Query: Weekly Newsletter: Winter Picks"
    assert {row["profile_id"] for row in rows} == members(sandbox, "Main Newsletter")
    opened = [row for row in rows if row["open_time"]]
    clicked = [row for row in rows if row["click_time"]]
    # Realistic rates: about a third open, a few percent click, every clicker opened.
    assert 0.2 < len(opened) / len(rows) < 0.5 and 0.02 < len(clicked) / len(rows) < 0.15
    assert all(row["open_time"] <= row["click_time"] for row in clicked)
    assert all(row["first_ten_clicks"].startswith("https://example.com/c/") for row in clicked)
    assert all(row["device"] for row in opened)
    assert not any(
        row["first_ten_clicks"] or row["purchase_time"] for row in rows if not row["click_time"]
    )
    datetime.strptime(rows[0]["send_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert len(rows[0]["email hash"]) == 32


def test_a_digits_blast_id_and_a_query_narrow_the_export(client):
    _, everyone = export(client, {"blast_id": str(VIP)})
    assert len(everyone) == 25  # the VIP list
    _, clickers = export(client, {"blast_id": VIP, "query": CLICKED})
    assert clickers == [row for row in everyone if row["click_time"]] and clickers
    not_clicked = {"criteria": ["click_time"], "timerange": ["not_ever"]}
    _, others = export(client, {"blast_id": VIP, "query": not_clicked})
    assert len(others) + len(clickers) == 25


def test_a_query_mixes_campaign_and_user_criteria(client):
    query = {**CLICKED, "criteria": ["click_time", "engagement_min"], "engagement": [None, 5]}
    query["timerange"] = ["ever", None]
    _, both = export(client, {"blast_id": WINTER, "query": query})
    _, clicked = export(client, {"blast_id": WINTER, "query": CLICKED})
    assert 0 < len(both) < len(clicked)


def test_unknown_or_missing_blast_ids_are_refused_at_post(client):
    for payload, answer in [
        ({"blast_id": 999}, {"error": 13, "errormsg": "Unknown blast_id"}),
        ({"blast_id": "Winter Picks"}, {"error": 13, "errormsg": "Unknown blast_id"}),
        ({"blast_id": True}, {"error": 13, "errormsg": "Unknown blast_id"}),
        ({}, {"error": 2, "errormsg": "Missing required parameter: blast_id"}),
    ]:
        for job in ("blast_query", "blast_save_list", "blast_snapshot"):
            body = client.api_post("job", {"job": job, "list": "L", **payload}).get_body()
            assert body == answer, (job, payload)
    body = client.api_post("job", {"job": "blast_save_list", "blast_id": WINTER}).get_body()
    assert body == {"error": 2, "errormsg": "Missing required parameter: list"}


def test_a_criterion_the_sandbox_cannot_evaluate_fails_the_job(client):
    since = {"criteria": ["click_time"], "timerange": ["since_days"], "value": [7]}
    job = run_job(client, {"job": "blast_query", "blast_id": WINTER, "query": since})
    assert job["status"] == "error"
    assert "timerange ever or not_ever, not 'since_days'" in job["error_message"]


def test_blast_save_list_saves_the_clickers_to_a_new_list_and_twice_changes_nothing(
    client, sandbox
):
    payload = {"job": "blast_save_list", "blast_id": WINTER, "list": "Clicked: Winter Picks"}
    first = run_job(client, {**payload, "query": CLICKED})
    assert first["status"] == "completed" and first["list"] == "Clicked: Winter Picks"
    _, clickers = export(client, {"blast_id": WINTER, "query": CLICKED})
    saved = members(sandbox, "Clicked: Winter Picks")
    assert saved == {row["profile_id"] for row in clickers}
    assert first["saved_count"] == first["added_count"] == len(saved) > 0
    second = run_job(client, {**payload, "query": CLICKED})
    assert (second["saved_count"], second["added_count"]) == (len(saved), 0)
    assert members(sandbox, "Clicked: Winter Picks") == saved
    # Into an existing list: its members stay, the campaign's are added.
    vip = run_job(client, {**payload, "blast_id": VIP, "list": "Engaged"})
    assert vip["status"] == "completed" and vip["saved_count"] == 25
    assert members(sandbox, "VIP") <= members(sandbox, "Engaged")


def test_blast_snapshot_counts_and_emails_its_report(client, sandbox):
    payload = {"job": "blast_snapshot", "blast_id": NEW_ARRIVALS}
    job = run_job(client, {**payload, "report_email": "crm@example.com"})
    _, rows = export(client, {"blast_id": NEW_ARRIVALS})
    assert job["status"] == "completed" and "export_url" not in job
    assert job["recipients"] == len(rows) == 300
    assert job["opened"] == sum(1 for row in rows if row["open_time"])
    assert job["clicked"] == sum(1 for row in rows if row["click_time"])
    assert job["purchased"] == sum(1 for row in rows if row["purchase_time"])
    [report] = [m for m in sandbox.outbox if m["To"] == "crm@example.com"]
    assert "Blast Snapshot: Weekly Newsletter: New Arrivals" in report["Subject"]
    assert f"clicked: {job['clicked']}" in report.get_content()
    narrowed = run_job(client, {**payload, "query": CLICKED})
    assert narrowed["recipients"] == narrowed["clicked"] == job["clicked"]


def test_the_demo_campaigns_are_the_same_in_every_sandbox(sandbox_factory):
    def recipients(box: Sandbox) -> list[tuple]:
        return query(box, "SELECT * FROM blast_recipients ORDER BY blast_id, user_id")

    first, second = sandbox_factory(seed="demo"), sandbox_factory(seed="demo")
    assert recipients(first) == recipients(second)
    assert len(recipients(first)) == 300 + 300 + 25
    names = query(first, "SELECT blast_id, name, list FROM blasts ORDER BY blast_id")
    assert names == [(blast_id, name, list_name) for blast_id, name, list_name, *_ in DEMO_BLASTS]


SEED = """\
lists: [Weekly Digest]
users:
  - {email: ann@example.com, lists: [Weekly Digest]}
  - {email: bob@example.com, lists: [Weekly Digest]}
  - {email: cy@example.com, lists: [Weekly Digest]}
  - {email: dee@example.com}
blasts:
  - blast_id: 1234567
    name: Spring Sale
    list: Weekly Digest
    send_time: -2d10h
    opened: [ann@example.com, bob@example.com]
    clicked: [Ann@example.com]
"""


def test_a_seed_file_gives_campaigns_for_rehearsals(sandbox_factory, tmp_path):
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    box = sandbox_factory(seed=str(seed))
    client = SailthruClient(box.api_key, box.secret, box.url)
    job, rows = export(client, {"blast_id": "1234567"})
    assert job["name"] == "Blast Query: Spring Sale"
    assert [(r["open_time"] != "", r["click_time"] != "") for r in rows] == [
        (True, True),  # ann
        (True, False),  # bob
        (False, False),  # cy; dee is not on the list
    ]
    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sent = anchor - timedelta(days=2, hours=10)
    assert {row["send_time"] for row in rows} == {sent.strftime("%Y-%m-%d %H:%M:%S")}
    snapshot = run_job(client, {"job": "blast_snapshot", "blast_id": 1234567})
    assert (snapshot["recipients"], snapshot["opened"], snapshot["clicked"]) == (3, 2, 1)


def test_every_problem_of_a_seed_blast_names_its_place(tmp_path):
    seed = tmp_path / "bad.yaml"
    seed.write_text(
        SEED
        + """\
  - blast_id: 1234567
    name: ""
    list: Nope
    opened: [dee@example.com]
    colour: red
""",
        encoding="utf-8",
    )
    with pytest.raises(SeedFileError) as caught:
        load_seed_file(seed)
    assert [problem.render() for problem in caught.value.problems] == [
        f"{seed}:14:5: blasts[1]: missing send_time: " + TIME_HINT,
        f"{seed}:14:15: blasts[1].blast_id: blast_id: 1234567 is already a blast's id",
        f"{seed}:15:11: blasts[1].name: name: the campaign's name, got ''",
        f"{seed}:16:11: blasts[1].list: list: a list of this file, got 'Nope'",
        f"{seed}:17:14: blasts[1].opened[0]: 'dee@example.com' is not a user on the"
        " campaign's list, so it got no email",
        f"{seed}:18:5: blasts[1].colour: unknown key; an entry here has blast_id, name, list,"
        " send_time, opened, clicked",
    ]
