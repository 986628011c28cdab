"""Fresh links for outputs the run state did not keep (``runner.executor.state.sealing``).

A resumed run, or one that borrows an upstream job's outputs, reads that job's export URL
from the state; by default the state keeps only its host. Sailthru still has the job: one
GET of it gives the link again (for as long as Sailthru keeps the export).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from runner.executor.prepare import job_outputs
from runner.sailthru.errors import ClientError

if TYPE_CHECKING:
    from runner.executor.progress import RunObserver
    from runner.executor.state import JobRecord
    from runner.manifest.planner import Plan
    from runner.sailthru.client import SailthruClient


def refresh_withheld(
    records: Iterable[JobRecord], client: SailthruClient, progress: RunObserver
) -> None:
    """Each record with a withheld link gets the outputs of a fresh GET of its job."""
    for record in records:
        if not record.withheld or record.remote_job_id is None:
            continue
        fresh = _fresh_outputs(record.job, record.remote_job_id, client, progress)
        if fresh is not None:
            record.outputs = {**record.outputs, **fresh}
            record.withheld = False


def refresh_borrowed(plan: Plan, client: SailthruClient, progress: RunObserver) -> None:
    """The same for the outputs a run borrows from a job it does not select."""
    for job_id, found in list(plan.borrowed_from.items()):
        if found.refresh_job_id is None:
            continue
        fresh = _fresh_outputs(job_id, found.refresh_job_id, client, progress)
        if fresh is not None:
            outputs = {**found.outputs, **fresh}
            plan.borrowed_from[job_id] = replace(found, outputs=outputs, refresh_job_id=None)


def _fresh_outputs(
    job: str, remote_job_id: str, client: SailthruClient, progress: RunObserver
) -> dict[str, object] | None:
    try:
        return dict(job_outputs(client.get_job(remote_job_id), remote_job_id))
    except ClientError as exc:
        progress.message(
            f"{job}: the run state does not keep export links, and asking Sailthru for a fresh "
            f"one failed ({exc}); what reads its link will fail",
            level="warning",
        )
        return None
