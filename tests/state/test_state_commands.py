"""``sailjobs state migrate`` and ``sailjobs state prune``, run as a user runs them, on both
backends (``state_location``)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from runner.executor.state import StateLocation
from runner.executor.state.migrations import MIGRATIONS

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
DAY = 86400.0


def sailjobs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SAILJOBS, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def at_schema_1(location: str) -> None:
    """A state as sailjobs 0.2 wrote it (schema 1), with one finished run."""
    folder = StateLocation(location).folder
    statements = [
        *MIGRATIONS[0].statements("postgres" if folder is None else "sqlite"),
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "INSERT INTO meta VALUES ('schema', '1')",
        "INSERT INTO runs (run_id, manifest_key, manifest_path, manifest_name, "
        "manifest_sha256, started_at, finished_at, status, succeeded) "
        "VALUES ('r1', 'k', 'm.yaml', 'm', 'sha', 1000, 1001, 'finished', 1)",
    ]
    if folder is None:
        with psycopg.connect(location, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[call-overload]
        return
    folder.mkdir()
    conn = sqlite3.connect(folder / "state.db")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_migrate_brings_a_schema_1_state_to_2_and_says_what_it_did(
    state_location: str, tmp_path: Path
) -> None:
    at_schema_1(state_location)
    done = sailjobs("state", "migrate", "--state", state_location, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "schema 1 → 2: the host and process of each run" in done.stdout
    with StateLocation(state_location).open() as state:
        assert state.schema_version() == 2
        assert [run.run_id for run in state.runs()] == ["r1"]  # its runs kept

    again = sailjobs("state", "migrate", "--state", state_location, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("already at schema 2")


def test_migrate_refuses_a_newer_schema_and_changes_nothing(
    state_location: str, tmp_path: Path
) -> None:
    with StateLocation(state_location).open() as state:
        state._execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    done = sailjobs("state", "migrate", "--state", state_location, cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert "written by a newer sailjobs (schema 3, this one knows 2)" in line
    assert "upgrade sailjobs" in line


def test_migrate_of_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    done = sailjobs("state", "migrate", "--state", "st", cwd=tmp_path)
    assert done.returncode == 0 and "no state in st" in done.stdout
    assert not (tmp_path / "st").exists()


def test_migrate_creates_the_schema_of_an_empty_database(postgres_url: str, tmp_path: Path) -> None:
    done = sailjobs("state", "migrate", "--state", postgres_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "created at schema 2: runs, jobs, actions" in done.stdout
    with StateLocation(postgres_url).open() as state:
        assert state.schema_version() == 2


def test_prune_refuses_a_folder_whose_state_was_lost(tmp_path: Path) -> None:
    (tmp_path / "st" / "locks").mkdir(parents=True)
    (tmp_path / "st" / "locks" / "k.lock").write_text("host h, pid 1")
    done = sailjobs("state", "prune", "--older-than", "30d", "--state", "st", cwd=tmp_path)
    assert done.returncode == 2
    assert "the run state st/state.db is missing, but 1 lock file" in done.stderr
    assert not (tmp_path / "st" / "state.db").exists()


def recorded_runs(location: str, tmp_path: Path) -> None:
    """Runs of two manifests: old finished ones, an old unfinished one, a recent one."""
    now = time.time()
    with StateLocation(location).open() as state:
        for run_id, key, days_ago, finished in (
            ("m-old-1", "m", 60, True),
            ("m-old-2", "m", 50, True),
            ("m-open", "m", 40, False),  # interrupted: a resume continues it
            ("m-new", "m", 1, True),
            ("n-old", "n", 90, True),  # the newest run of n: --retry-failed continues it
        ):
            state.start_run(run_id, key, tmp_path / f"{key}.yaml", key, "sha")
            state.add_job(run_id, "j", "import")
            if finished:
                state.end_run(run_id, interrupted=False, succeeded=True)
            else:
                state.end_run(run_id, interrupted=True, succeeded=False)
            state._execute(
                "UPDATE runs SET started_at = ? WHERE run_id = ?", (now - days_ago * DAY, run_id)
            )


def test_prune_deletes_old_finished_runs_and_dry_run_only_lists_them(
    state_location: str, tmp_path: Path
) -> None:
    recorded_runs(state_location, tmp_path)

    dry = sailjobs("state", "prune", "--older-than", "30d", "--dry-run", "--state",
                   state_location, cwd=tmp_path)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert [line.split()[0] for line in dry.stdout.splitlines()[:-1]] == ["m-old-2", "m-old-1"]
    assert dry.stdout.splitlines()[-1].startswith("would delete 2 runs started before ")
    with StateLocation(state_location).open() as state:
        assert len(state.runs()) == 5

    done = sailjobs("state", "prune", "--older-than", "30d", "--state", state_location,
                    cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("deleted 2 runs started before ")
    with StateLocation(state_location).open() as state:
        assert sorted(run.run_id for run in state.runs()) == ["m-new", "m-open", "n-old"]
        assert state.jobs("m-old-1") == {} and list(state.jobs("m-open")) == ["j"]

    again = sailjobs("state", "prune", "--older-than", "30d", "--state", state_location,
                     cwd=tmp_path)  # fmt: skip
    assert again.stdout.splitlines()[-1].startswith("deleted 0 runs")


@pytest.mark.parametrize("value", ["30", "thirty days", "-5d"])
def test_prune_with_a_bad_duration_exits_2_and_says_so(value: str, tmp_path: Path) -> None:
    done = sailjobs("state", "prune", "--older-than", value, "--state", "st", cwd=tmp_path)
    assert done.returncode == 2
    assert "Invalid value for '--older-than'" in done.stderr
    assert "expected a duration like 90s" in done.stderr or "more than zero" in done.stderr
