"""The profile-job manifests (manifests/tag-vips.yaml, profile-updates.yaml,
audience-snapshot.yaml) end to end on the sandbox: ``sailjobs run --sandbox`` exits 0, and
what each run did is in the sandbox's data and outbox."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.results import JobStatus
from runner.sandbox import Sandbox

MANIFESTS = Path(__file__).parents[2] / "manifests"
PROFILE_MANIFESTS = ("tag-vips.yaml", "profile-updates.yaml", "audience-snapshot.yaml")


@pytest.mark.parametrize("name", PROFILE_MANIFESTS)
def test_sailjobs_run_sandbox_exits_0(name: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", str(MANIFESTS / name), "--sandbox", "--state", str(tmp_path / "state")]
    )
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output


def query(sandbox: Sandbox, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    assert sandbox.data_dir is not None
    with closing(sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3")) as db:
        return db.execute(sql, args).fetchall()


def members(sandbox: Sandbox, name: str) -> set[str]:
    rows = query(
        sandbox,
        "SELECT u.email FROM list_members m JOIN users u ON u.id = m.user_id"
        " JOIN lists l ON l.id = m.list_id WHERE l.name = ?",
        name,
    )
    return {row[0] for row in rows}


def vars_of(sandbox: Sandbox, email: str) -> dict[str, Any]:
    [(text,)] = query(sandbox, "SELECT vars FROM users WHERE email = ?", email)
    return dict(json.loads(text))


def test_tag_vips_tags_the_engaged_newsletter_readers_and_mails_a_snapshot(
    run_on_sandbox, sandbox: Sandbox
) -> None:
    result = run_on_sandbox(MANIFESTS / "tag-vips.yaml")
    assert {job.status for job in result.jobs.values()} == {JobStatus.SUCCEEDED}
    engaged = {
        row[0]
        for row in query(
            sandbox,
            "SELECT u.email FROM users u JOIN list_members m ON m.user_id = u.id"
            " JOIN lists l ON l.id = m.list_id"
            " WHERE l.name = 'Main Newsletter' AND u.engagement IN ('active', 'engaged')",
        )
    }
    assert 0 < len(engaged) < 300
    assert members(sandbox, "VIP Preview") == engaged
    assert all(vars_of(sandbox, email)["vip_tier"] == "gold" for email in engaged)
    [report] = [m for m in sandbox.outbox if "Snapshot: VIP Preview" in m["Subject"]]
    assert f"user_count: {len(engaged)}" in report.get_content()


def test_profile_updates_applies_the_crm_file(run_on_sandbox, sandbox: Sandbox) -> None:
    result = run_on_sandbox(MANIFESTS / "profile-updates.yaml")
    [job] = result.jobs.values()
    assert job.status is JobStatus.SUCCEEDED and job.warnings == []
    first = vars_of(sandbox, "user001@example.com")
    assert (first["plan"], first["crm_id"], first["crm_synced"]) == ("pro", "C-1001", True)
    assert first["userId"] == 1  # merged: the vars the file does not name are kept
    assert "user002@example.com" in members(sandbox, "VIP")
    assert "user003@example.com" not in members(sandbox, "Main Newsletter")
    [(optout,)] = query(
        sandbox,
        "SELECT o.optout FROM profile_optouts o JOIN users u ON u.id = o.user_id"
        " WHERE u.email = 'user003@example.com'",
    )
    assert optout == "basic"
    assert "new.customer@example.com" in members(sandbox, "Main Newsletter")
    assert vars_of(sandbox, "new.customer@example.com")["crm_id"] == "C-2001"


def test_audience_snapshot_mails_the_counts(run_on_sandbox, sandbox: Sandbox) -> None:
    result = run_on_sandbox(MANIFESTS / "audience-snapshot.yaml")
    [job] = result.jobs.values()
    assert job.status is JobStatus.SUCCEEDED
    [report] = [m for m in sandbox.outbox if m["To"] == "marketing@example.com"]
    assert "user_count: 300" in report.get_content()  # every demo address is valid


def test_an_update_that_changes_nobody_is_a_warning_of_the_run(run_on_sandbox) -> None:
    result = run_on_sandbox(
        "version: 1\n"
        "name: tag-nobody\n"
        "jobs:\n"
        "  tag:\n"
        "    job: update\n"
        "    query: {source_list: Empty List}\n"
        "    update: {vars: {tagged: 1}}\n"
    )
    job = result.jobs["tag"]
    assert job.status is JobStatus.SUCCEEDED
    assert job.warnings == [
        "the update completed but changed no profile: the query selected no user"
    ]
