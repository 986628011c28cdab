"""A run that lost its PostgreSQL lock (the server restarted, and another run took it) sends
nothing more: its intents to submit are fenced by its holding's mark in ``lock_holders``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner.executor.state import StateLocation, StateUnavailableError
from runner.executor.state import postgres as backend

MANIFEST = Path("m.yaml")


def test_an_intent_after_another_run_took_the_lock_is_refused(
    postgres_cluster, postgres_url: str
) -> None:
    with StateLocation(postgres_url).open() as first, first.lock("k", MANIFEST):
        first.start_run("r1", "k", MANIFEST, "m", "sha")
        for job in ("a", "b"):
            first.add_job("r1", job, "import")
        first.record_intent("r1", "a", {}, attempts=1)  # under its lock: recorded

        postgres_cluster.restart()  # the lock's session ends with the server
        with StateLocation(postgres_url).open() as second, second.lock("k", MANIFEST):
            with pytest.raises(StateUnavailableError, match="the run lost its lock"):
                first.record_intent("r1", "b", {}, attempts=1)
            assert second.jobs("r1")["b"].intent_at is None  # so no POST of it either
            with pytest.raises(StateUnavailableError):  # and nothing more is recorded
                first.record_finished("r1", "a", first.jobs("r1")["a"].status, outputs={},
                                      error=None, polls=0)  # fmt: skip


def test_a_lock_retaken_after_another_run_held_it_is_given_up(
    postgres_cluster, postgres_url: str, monkeypatch
) -> None:
    with StateLocation(postgres_url).open() as first, first.lock("k", MANIFEST):
        first.start_run("r1", "k", MANIFEST, "m", "sha")
        first.add_job("r1", "a", "import")
        postgres_cluster.restart()
        # Another run takes the lock while the first one's session is gone, and ends.
        with StateLocation(postgres_url).open() as second, second.lock("k", MANIFEST):
            pass
        monkeypatch.setattr(backend, "LOCK_HEARTBEAT_SECONDS", 0.2)  # from its next check on
        deadline = time.monotonic() + 20
        while first.failed is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the heartbeat retakes the lock, finds the other's mark
        assert isinstance(first.failed, StateUnavailableError)
        assert "held it while the database was away" in str(first.failed)
        with StateLocation(postgres_url).open() as third:
            assert not third.lock_held("k")  # let go: the next run is not kept waiting


def test_a_run_waiting_for_the_lock_waits_on_through_a_restart(
    postgres_cluster, postgres_url: str
) -> None:
    import threading

    outcome: list[object] = []

    def wait_for_the_lock() -> None:
        try:
            with (
                StateLocation(postgres_url).open() as waiter,
                waiter.lock("k", MANIFEST, timeout=6),
            ):
                outcome.append("held")
        except Exception as exc:  # what the run would show: one error, not a traceback
            outcome.append(exc)

    with StateLocation(postgres_url).open() as holder, holder.lock("k", MANIFEST):
        waiting = threading.Thread(target=wait_for_the_lock)
        waiting.start()
        time.sleep(1.5)  # waiting now
        postgres_cluster.restart()
        waiting.join(30)
    assert outcome and (outcome[0] == "held" or type(outcome[0]).__name__ == "LockTimeoutError")
