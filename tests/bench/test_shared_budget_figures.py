"""The figures bench/shared_budget.py prints, from what a real sandbox recorded: each job
counted once, each runner's share of each window, and no crash when nothing got through."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from runner.sailthru.client import SailthruClient

BENCH = Path(__file__).resolve().parents[2] / "bench" / "shared_budget.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("shared_budget_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def figures(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "refused": 0,
        "posts": [(30, 10), (33, 6)],
        "finished": {"runner1": 5.0, "runner2": 6.0},
        "codes": {"runner1": 0, "runner2": 0},
        "started_at": 29.0,
        "submitted": 16,
        "shares": [{"runner1": 6, "runner2": 4}, {"runner1": 6, "runner2": 0}],
        "busy_shares": [{"runner1": 6, "runner2": 4}],
    }
    return {**base, **changes}


def test_each_accepted_job_is_counted_once_with_its_runner(bench, sandbox_factory) -> None:
    # The sandbox's job_time callback fires at the submission and again when the job
    # starts: the bench reads the submissions from the sandbox's jobs instead.
    sandbox = sandbox_factory(seed=None, job_time=0.05)
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        answer = client.call(
            "POST",
            "job",
            {"job": "export_scheduled_sends", "report_email": "runner2@bench.example.com"},
        )
        deadline = time.monotonic() + 20
        while sandbox.job(str(answer["job_id"]))["status"] != "completed":  # type: ignore[index]
            assert time.monotonic() < deadline, "the sandbox job never completed"
            time.sleep(0.05)
    accepted = bench.accepted_posts(sandbox)
    assert [who for _, who in accepted] == ["runner2"]


def test_each_runners_share_of_each_busy_window(bench) -> None:
    accepted = [(30.1, "a"), (30.2, "a"), (31.0, "b"), (33.5, "b"), (34.0, "a"), (36.5, "b")]
    accepted += [(36.6, "a"), (39.5, "a")]
    # b ran out of jobs in window 36 (its last POST): from there on, not all were busy.
    assert bench.window_shares(accepted, 3, ["a", "b"]) == [{"a": 2, "b": 1}, {"a": 1, "b": 1}]
    every = bench.window_shares(accepted, 3, ["a", "b"], busy_only=False)
    assert every[2:] == [{"a": 1, "b": 1}, {"a": 1, "b": 0}]
    assert bench.fairness([{"a": 1, "b": 1}]) == 1.0
    assert bench.fairness([{"a": 2, "b": 0}]) == 0.5


def test_fairness_is_na_when_no_window_had_every_runner_busy(bench, capsys) -> None:
    assert bench.fairness([]) is None
    bench.report("label", bench.QUICK, figures(busy_shares=[]))
    out = capsys.readouterr().out
    assert "in the 0 windows where all were busy: n/a" in out and "1.000" not in out
    bench.report("label", bench.QUICK, figures())
    out = capsys.readouterr().out
    assert "POSTs per runner (runner1/runner2) in each window: 6/4, 6/0" in out
    assert "in the 1 windows where all were busy: Jain index 0.962" in out


def test_no_post_through_prints_the_failed_runs(bench, capsys) -> None:
    bench.report(
        "label",
        bench.QUICK,
        figures(posts=[], codes={"runner1": 1, "runner2": 0}, shares=[], busy_shares=[]),
    )
    out = capsys.readouterr().out
    assert "429 answers received: 0" in out
    assert "no POST got through: FAILED runs: runner1" in out
