"""Runs as the state remembers them: ``sailjobs runs`` and ``sailjobs show RUN_ID``.

``load_run`` rebuilds a run's ``RunResult`` from its rows, so the report builders of
``runner.builtin.reports`` render it as they render a run that just ended. The state does
not hold a run's options (report paths), its jobs' warnings, nor which actions an earlier
process did (``resumed``): those come back empty.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from runner.executor.splitparts import PART_SEPARATOR
from runner.executor.state import (
    SANDBOX_KEY_SUFFIX,
    ActionRecord,
    RunRecord,
    RunState,
    StateError,
    StateLocation,
    to_datetime,
)
from runner.manifest.inputs import inputs_from_data
from runner.plugins import job_types
from runner.results import ActionResult, JobResult, JobStatus, RunResult

NOTIFY_OWNER = ""  # the owner of the manifest's notify actions in the state
_PHASE_ORDER = {"on_success": 0, "on_failure": 0, "always": 1}
RECENT_IDS = 5  # how many run ids an unknown run id's error lists


class UnknownRunError(StateError):
    """No run with that id in the state folder; the message lists recent ones."""


@dataclass
class RunSummary:
    """One line of ``sailjobs runs``."""

    run: RunRecord
    counts: dict[str, int]  # jobs per status
    reopened: int  # times ``--retry-failed`` continued it
    live: bool  # a process holds the manifest's lock now

    @property
    def status(self) -> str:
        """running (a process has it now), interrupted (stopped, or its process died
        without recording its end: ``--resume`` continues it), succeeded or failed."""
        if self.run.status != "finished":
            return "running" if self.live else "interrupted"
        return "succeeded" if self.run.succeeded else "failed"


def _action(record: ActionRecord) -> ActionResult:
    return ActionResult(
        name=record.name, plugin=record.plugin, when=record.phase, index=record.idx,
        succeeded=record.succeeded, attempts=record.attempts, outputs=record.outputs,
        error=record.error, started_at=to_datetime(record.started_at),
        finished_at=to_datetime(record.finished_at),
    )  # fmt: skip


def _in_run_order(records: list[ActionRecord]) -> list[ActionResult]:
    ordered = sorted(records, key=lambda record: (_PHASE_ORDER.get(record.phase, 2), record.idx))
    return [_action(record) for record in ordered]


def runs_command(location: StateLocation) -> str:
    """``sailjobs runs`` for this state, ready to paste."""
    return f"sailjobs runs{location.option()}"


def show_command(run_id: str, location: StateLocation) -> str:
    """``sailjobs show RUN_ID`` for this state, ready to paste."""
    return f"sailjobs show {run_id}{location.option()}"


def load_run(state: RunState, run_id: str, location: StateLocation) -> RunResult:
    """The run ``run_id`` rebuilt from the state at ``location``; ``UnknownRunError`` if
    there is none."""
    record = state.run(run_id)
    if record is None:
        recent = [run.run_id for run in state.runs(limit=RECENT_IDS)]
        known = f"recent runs: {', '.join(recent)}" if recent else "it holds no run yet"
        raise UnknownRunError(
            f"no run {run_id!r} in {state.describe()} ({known}); "
            f"`{runs_command(location)}` lists them all"
        )
    result = RunResult(
        run_id=record.run_id,
        manifest_name=record.manifest_name,
        manifest_path=record.manifest_path,
        started_at=to_datetime(record.started_at) or datetime.now(UTC),
        finished_at=to_datetime(record.finished_at),
        interrupted=record.unfinished,
    )
    inputs = inputs_from_data(record.inputs)
    result.logical_date = inputs.date
    # The advice a rebuilt report gives names this state folder; a sandbox run's jobs are
    # gone with its sandbox, so it advises no retry (as the run itself did).
    sandbox = record.manifest_key.endswith(SANDBOX_KEY_SUFFIX)
    result.command = (
        f"sailjobs run {shlex.quote(record.manifest_path)}{location.option()}"
        + (f" --run-key {shlex.quote(record.run_key)}" if record.run_key else "")
        + inputs.command_suffix()
    )
    if sandbox:
        result.options["sandbox"] = True
    if inputs.target:
        result.options["target"] = inputs.target
    if record.host:  # the machine that ran it last (a resume on another one takes it over)
        result.options["host"] = record.host
    installed = job_types()
    actions = state.actions(run_id)
    for job_id, row in state.jobs(run_id).items():
        if PART_SEPARATOR in job_id:  # a split job's part: inside its job's outputs
            continue
        result.jobs[job_id] = JobResult(
            run_id=run_id, id=job_id, job_type=row.job_type, status=row.status,
            params=row.params, remote_job_id=row.remote_job_id,
            remote_status=row.remote_status, attempts=row.attempts, polls=row.polls,
            submitted_at=to_datetime(row.submitted_at),
            finished_at=to_datetime(row.finished_at), outputs=row.outputs, error=row.error,
            ambiguous=row.ambiguous and row.status is JobStatus.FAILED
            and not getattr(installed.get(row.job_type), "resubmit_safe", False),
            actions=_in_run_order([action for action in actions if action.owner == job_id]),
        )  # fmt: skip
    result.actions = _in_run_order([a for a in actions if a.owner == NOTIFY_OWNER])
    return result


def summarize(state: RunState, key: str | None = None) -> list[RunSummary]:
    """Every run (of the manifest ``key``), newest first, with its jobs counted by status."""
    summaries = []
    for run in state.runs(key):
        counts: dict[str, int] = {}
        for job_id, row in state.jobs(run.run_id).items():
            if PART_SEPARATOR not in job_id:
                status = row.status.value if row.status.is_terminal else "unfinished"
                counts[status] = counts.get(status, 0) + 1
        live = run.unfinished and state.lock_held(run.manifest_key)
        summaries.append(RunSummary(run, counts, len(state.reopenings(run.run_id)), live))
    return summaries
