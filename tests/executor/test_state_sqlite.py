"""What only the SQLite state has: its files' permissions, the flock of its lock files, a
file that is not a database, and the states that earlier releases wrote in a folder (the
interface itself is tested on both backends in ``test_state``)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from runner.executor.state import ActionRecord, ManifestLock, SQLiteState, StateError

# The schema of sailjobs 0.2 (schema 1), as it created it in a state folder.
SCHEMA_OF_0_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, manifest_key TEXT NOT NULL, manifest_path TEXT NOT NULL,
    manifest_name TEXT NOT NULL, manifest_sha256 TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, status TEXT NOT NULL, succeeded INTEGER
);
CREATE INDEX runs_by_manifest ON runs (manifest_key, started_at);
CREATE TABLE jobs (
    run_id TEXT NOT NULL, job TEXT NOT NULL, job_type TEXT NOT NULL, status TEXT NOT NULL,
    remote_job_id TEXT, remote_status TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0, params TEXT NOT NULL DEFAULT '{}', intent_at REAL,
    submitted_at REAL, finished_at REAL, outputs TEXT NOT NULL DEFAULT '{}', error TEXT,
    outcome TEXT, PRIMARY KEY (run_id, job)
);
CREATE TABLE reopenings (run_id TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE actions (
    run_id TEXT NOT NULL, owner TEXT NOT NULL, phase TEXT NOT NULL, idx INTEGER NOT NULL,
    name TEXT NOT NULL, plugin TEXT NOT NULL, succeeded INTEGER NOT NULL,
    attempts INTEGER NOT NULL, outputs TEXT NOT NULL DEFAULT '{}', error TEXT,
    finished_at REAL NOT NULL, started_at REAL, PRIMARY KEY (run_id, owner, phase, idx)
);
INSERT INTO meta VALUES ('schema', '1');
"""


def write_state_of_0_2(state_dir: Path, rows: str = "") -> None:
    """A state folder as sailjobs 0.2 left it, with ``rows`` (SQL inserts) in it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(state_dir / "state.db")
    conn.executescript(SCHEMA_OF_0_2 + rows)
    conn.close()


def test_a_state_of_sailjobs_0_2_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    write_state_of_0_2(
        tmp_path,
        "INSERT INTO runs VALUES ('r1', 'k', 'm.yaml', 'm', 'sha', 1000.0, 1001.0, 'finished', 1);"
        "INSERT INTO jobs (run_id, job, job_type, status, remote_job_id) "
        "VALUES ('r1', 'j', 'import', 'succeeded', 'abc');",
    )
    with SQLiteState(tmp_path) as state:
        assert state.schema_version() == 2
        (run,) = state.runs()
        assert (run.run_id, run.succeeded, run.host, run.inputs) == ("r1", True, None, {})
        assert state.jobs("r1")["j"].remote_job_id == "abc"
        state.start_run("r2", "k", tmp_path / "m.yaml", "m", "sha")  # the new columns work
        assert state.run("r2").host is not None


def test_state_files_are_private(tmp_path: Path) -> None:
    with SQLiteState(tmp_path / "st"):
        pass
    assert stat.S_IMODE(os.stat(tmp_path / "st").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "st" / "state.db").st_mode) == 0o600


def test_the_lock_taken_first_keeps_the_state_folder_private(tmp_path: Path) -> None:
    # A run takes its lock before it opens the state: the folder it creates is private too.
    with ManifestLock(tmp_path / "st", "k", Path("m.yaml")):
        pass
    assert stat.S_IMODE(os.stat(tmp_path / "st").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "st" / "locks").st_mode) == 0o700


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable sailjobs state database"):
        SQLiteState(tmp_path)


def _hold_lock(state_dir: str, ready, release) -> None:  # runs in a child process
    lock = ManifestLock(Path(state_dir), "k", Path("m.yaml"))
    lock.acquire()
    ready.set()
    release.wait(30)
    lock.release()


def test_the_lock_stops_a_second_run_and_names_the_holder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    child.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StateError, match=rf"another sailjobs run .*pid {child.pid}"):
            ManifestLock(tmp_path, "k", Path("m.yaml")).acquire()
        # Another manifest is not blocked.
        with ManifestLock(tmp_path, "other", Path("n.yaml")):
            pass
    finally:
        release.set()
        child.join(30)
    with ManifestLock(tmp_path, "k", Path("m.yaml")):
        pass  # free again once the holder is gone


def test_a_state_written_before_actions_kept_their_start_gains_the_column(tmp_path: Path) -> None:
    # The actions table as the first release wrote it: no started_at.
    with SQLiteState(tmp_path) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute("ALTER TABLE actions DROP COLUMN started_at")
    conn.commit()
    conn.close()

    with SQLiteState(tmp_path) as state:  # opened by this sailjobs: the column is added
        record = ActionRecord("a", "on_success", 0, "download", "download", True, 1, {}, None)
        state.record_action("r1", "a", record)
        record.started_at = 1.5
        state.record_action("r1", "b", ActionRecord(**{**record.__dict__, "owner": "b"}))
        starts = {r.owner: r.started_at for r in state.actions("r1")}
    assert starts == {"a": None, "b": 1.5}


def _open_when_released(state_dir: str, start: Any, answers: Any) -> None:
    start.wait()
    try:
        SQLiteState(Path(state_dir)).close()
        answers.put("ok")
    except StateError as exc:
        answers.put(str(exc))


def test_runs_opening_a_new_state_folder_at_once_both_open_it(tmp_path: Path) -> None:
    # Without the setup lock about a third of these pairs failed: SQLite answers "database is
    # locked" at once, without waiting, to one that finds the other converting it to WAL.
    context = multiprocessing.get_context("fork")
    for trial in range(30):
        start, answers = context.Barrier(2), context.Queue()
        folder = str(tmp_path / f"state-{trial}")
        opening = [
            context.Process(target=_open_when_released, args=(folder, start, answers))
            for _ in range(2)
        ]
        for process in opening:
            process.start()
        for process in opening:
            process.join(30)
        assert [answers.get(timeout=5) for _ in opening] == ["ok", "ok"], f"trial {trial}"
