"""The run state's interface, on both backends (``state_location``: a SQLite folder and a
PostgreSQL database): intent before the POST, job_id after, actions recorded, runs, the
manifest lock, the schema's version. What only SQLite has is in ``test_state_sqlite``."""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

import pytest

from runner.executor.state import (
    SCHEMA_VERSION,
    ActionRecord,
    RunState,
    StateError,
    StateLocation,
    manifest_key,
)
from runner.results import JobStatus


def opened(location: str) -> RunState:
    return StateLocation(location).open()


def test_intent_then_job_id_leaves_a_readable_trail(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state, opened(state_location) as other:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        state.add_job("r1", "export", "export_list_data")
        state.record_intent("r1", "export", {"list": "Main"}, attempts=1)
        # Another connection (another process, another machine) sees the intent at once.
        seen = other.jobs("r1")["export"]
        assert seen.status is JobStatus.SUBMITTING and seen.intent_at is not None
        assert seen.remote_job_id is None and seen.ambiguous
        state.record_submitted("r1", "export", "abc123", "pending")
        record = other.jobs("r1")["export"]
        assert (record.status, record.remote_job_id, record.ambiguous) == (
            JobStatus.RUNNING, "abc123", False,
        )  # fmt: skip
        assert record.params == {"list": "Main"} and record.attempts == 1


def test_outcome_and_finish_round_trip(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
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


def test_jobs_keep_the_order_they_were_added(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        for job in ("zeta", "alpha", "mid"):
            state.add_job("r1", job, "import")
        assert list(state.jobs("r1")) == ["zeta", "alpha", "mid"]


def test_actions_are_recorded_per_owner_and_slot(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        done = ActionRecord("j", "on_success", 0, "download", "p", True, 2, {"path": "x"}, None)
        state.record_action("r1", "j", done)
        state.record_action(
            "r1", "", ActionRecord("", "always", 0, "email", "p", False, 3, {}, "down")
        )
        assert [a.outputs for a in state.actions("r1", "j")] == [{"path": "x"}]
        assert [a.error for a in state.actions("r1", "")] == ["down"]
        assert len(state.actions("r1")) == 2


def test_last_run_and_its_lifecycle(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
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


def test_a_run_records_its_host_and_process(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
        state.start_run("r1", "k", tmp_path / "m.yaml", "m", "sha")
        # As if another machine had started it: a resume here makes it this host's.
        state._execute("UPDATE runs SET host = 'machine-a', pid = 1 WHERE run_id = 'r1'")
        assert (state.run("r1").host, state.run("r1").pid) == ("machine-a", 1)
        state.reopen_run("r1")
        assert (state.run("r1").host, state.run("r1").pid) == (socket.gethostname(), os.getpid())


def test_a_new_state_is_at_this_schema_and_opening_it_again_changes_nothing(
    state_location: str,
) -> None:
    with opened(state_location) as state:
        assert state.schema_version() == SCHEMA_VERSION == 2
        assert state.migrate() == []  # type: ignore[attr-defined]


def test_a_state_of_a_newer_sailjobs_is_refused(state_location: str) -> None:
    with opened(state_location) as state:
        state._execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(
        StateError, match=r"written by a newer sailjobs \(schema 99, this one knows 2\)"
    ):
        opened(state_location)


def test_rekey_moves_the_runs_of_the_legacy_key(state_location: str, tmp_path: Path) -> None:
    with opened(state_location) as state:
        state.start_run("r1", "/old/path/m.yaml", tmp_path / "m.yaml", "m", "sha")
        state.start_run("r2", "other", tmp_path / "n.yaml", "n", "sha")
        state.rekey("/old/path/m.yaml", "m.yaml")
        assert [r.run_id for r in state.runs("m.yaml")] == ["r1"]
        assert [r.run_id for r in state.runs("other")] == ["r2"]


def test_prune_deletes_only_old_finished_runs_with_their_rows(
    state_location: str, tmp_path: Path
) -> None:
    with opened(state_location) as state:
        for run_id in ("old-done", "old-open", "new-done"):
            state.start_run(run_id, "k", tmp_path / "m.yaml", "m", "sha")
            state.add_job(run_id, "j", "import")
            state.record_action(
                run_id, "j", ActionRecord("j", "on_success", 0, "d", "p", True, 1, {}, None)
            )
        state.record_reopened("old-done")
        state.end_run("old-done", interrupted=False, succeeded=True)
        state.end_run("new-done", interrupted=False, succeeded=True)
        state._execute("UPDATE runs SET started_at = 1000 WHERE run_id IN ('old-done', 'old-open')")
        gone = state.prune(2000, keep=lambda run: False)
        assert [run.run_id for run in gone] == ["old-done"]
        assert sorted(r.run_id for r in state.runs()) == ["new-done", "old-open"]
        assert state.jobs("old-done") == {} and state.actions("old-done") == []
        assert state.reopenings("old-done") == []
        assert list(state.jobs("old-open")) == ["j"]


def _hold_lock(location: str, ready, release) -> None:  # runs in a child process
    with opened(location) as state, state.lock("k", Path("m.yaml")):
        ready.set()
        release.wait(30)


def test_the_lock_stops_a_second_run_and_names_the_holder(state_location: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(state_location, ready, release))
    child.start()
    try:
        assert ready.wait(30)
        with opened(state_location) as state:
            assert state.lock_held("k") and not state.lock_held("other")
            held = pytest.raises(StateError, match=rf"another sailjobs run .*pid {child.pid}")
            with held, state.lock("k", Path("m.yaml")):
                pass
            with state.lock("other", Path("n.yaml")):  # another manifest is not blocked
                pass
    finally:
        release.set()
        child.join(30)
    with opened(state_location) as state, state.lock("k", Path("m.yaml")):
        pass  # free again once the holder is gone


def test_manifest_key_follows_the_resolved_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert manifest_key(tmp_path / "a" / ".." / "m.yaml") == manifest_key(tmp_path / "m.yaml")
    assert manifest_key(tmp_path / "m.yaml") != manifest_key(tmp_path / "n.yaml")
