"""Borrowed jobs: a selected job's upstream that is not selected (``--select b`` without
``+``) gives it the outputs, and the success, of its last successful run in the run state.

The planner names them (``Plan.borrowed``); it cannot read the state (a lower layer), so
this fills ``Plan.borrowed_from``, for ``plan`` and, before anything is sent, for ``run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.executor.state import RunState, StateLocation, to_datetime
from runner.manifest.planner import BorrowedRun
from runner.masking import register_url
from runner.problems import ManifestError

if TYPE_CHECKING:
    from runner.manifest.planner import Plan


def borrow_outputs(plan: Plan, state: RunState, key: str) -> None:
    """Fill ``plan.borrowed_from`` from ``state`` (the manifest's runs under ``key``).

    Raises ManifestError with a problem at each job whose borrowed upstream never
    succeeded in a recorded run: a plan-time problem, not a silent re-run.
    """
    inputs = plan.loaded.inputs.as_data()
    for job_id in plan.borrowed:
        pinned = plan.borrow_pins.get(job_id)  # a saved plan borrows the run it showed
        record = state.last_success(key, job_id, inputs, pinned)
        if record is None:
            continue
        if isinstance(url := record.outputs.get("export_url"), str):
            register_url(url)  # a signed link: masked like the run's own
        plan.borrowed_from[job_id] = BorrowedRun(
            run_id=record.run_id,
            finished_at=to_datetime(record.finished_at),
            outputs=dict(record.outputs),
            remote_job_id=record.remote_job_id,
            withheld=record.withheld,
        )
    problems = plan.unborrowed(state.describe())
    if problems:
        raise ManifestError(problems)


def borrow_from_location(plan: Plan, location: StateLocation, key: str) -> None:
    """``borrow_outputs`` for ``plan``, which only reads: a state folder without a
    ``state.db`` holds no run (and none is made)."""
    if not plan.borrowed:
        return
    if not location.exists():
        raise ManifestError(plan.unborrowed(location.describe()))
    with location.open() as state:
        borrow_outputs(plan, state, key)
