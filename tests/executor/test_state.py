"""The run state: intent before the POST, job_id after, actions recorded, the manifest lock."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from runner.executor.state import ActionRecord, ManifestLock, SQLiteState, StateError, manifest_key
from runner.results import JobStatus


def test_intent_then_job_id_leaves_a_readable_trail(tmp_path: Path) -> None:
    with SQLiteState(tmp_path) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        state.add_job("r1", "export", "export_list_data")
        state.record_intent("r1", "export", {"list": "Main"}, attempts=1)
        # A second connection (another process, a test) sees the committed intent at once.
        other = sqlite3.connect(tmp_path / "state.db")
        row = other.execute("SELECT status, intent_at, remote_job_id FROM jobs").fetchone()
        assert row[0] == "submitting" and row[1] is not None and row[2] is None
        assert state.jobs("r1")["export"].ambiguous
        state.record_submitted("r1", "export", "abc123", "pending")
        record = state.jobs("r1")["export"]
        assert (record.status, record.remote_job_id, record.ambiguous) == (
            JobStatus.RUNNING, "abc123", False,
        )  # fmt: skip
        assert record.params == {"list": "Main"} and record.attempts == 1
        other.close()


def test_outcome_and_finish_round_trip(tmp_path: Path) -> None:
    with SQLiteState(tmp_path) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        state.add_job("r1", "j", "import")
        state.record_outcome(
            "r1", "j", JobStatus.SUCCEEDED, remote_status="completed",
            outputs={"job_id": "x"}, error=None, polls=3,
        )  # fmt: skip
        record = state.jobs("r1")["j"]
        assert record.outcome is JobStatus.SUCCEEDED and record.status is JobStatus.WAITING
        state.record_finished("r1", "j", JobStatus.SUCCEEDED, outputs={"a": 1}, error=None, polls=4)
        record = state.jobs("r1")["j"]
        assert record.status is JobStatus.SUCCEEDED and record.outputs == {"a": 1}
        assert record.polls == 4 and record.finished_at is not None


def test_actions_are_recorded_per_owner_and_slot(tmp_path: Path) -> None:
    with SQLiteState(tmp_path) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        done = ActionRecord("j", "on_success", 0, "download", "p", True, 2, {"path": "x"}, None)
        state.record_action("r1", "j", done)
        state.record_action(
            "r1", "", ActionRecord("", "always", 0, "email", "p", False, 3, {}, "down")
        )
        assert [a.outputs for a in state.actions("r1", "j")] == [{"path": "x"}]
        assert [a.error for a in state.actions("r1", "")] == ["down"]
        assert len(state.actions("r1")) == 2


def test_last_run_and_its_lifecycle(tmp_path: Path) -> None:
    with SQLiteState(tmp_path) as state:
        assert state.last_run("k") is None
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        state.end_run("r1", interrupted=False, succeeded=True)
        state.start_run("r2", "k", tmp_path / "m.yaml", "m", "sha")
        last = state.last_run("k")
        assert last is not None and last.run_id == "r2" and last.unfinished
        state.end_run("r2", interrupted=True, succeeded=False)
        assert state.last_run("k").status == "interrupted"
        state.reopen_run("r2")
        state.end_run("r2", interrupted=False, succeeded=False)
        last = state.last_run("k")
        assert not last.unfinished and last.succeeded is False


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


def test_manifest_key_follows_the_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert manifest_key(tmp_path / "a" / ".." / "m.yaml") == manifest_key(tmp_path / "m.yaml")
    assert manifest_key(tmp_path / "m.yaml") != manifest_key(tmp_path / "n.yaml")


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
