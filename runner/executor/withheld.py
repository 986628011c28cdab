"""Fresh links for outputs the run state did not keep (``runner.executor.state.sealing``).

A resumed or retried run reads a job's export URL from the state (to download it, after a
crash or a failed download); by default the state keeps only its host. Sailthru still has the job: one
GET of it gives the link again (for as long as Sailthru keeps the export).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from runner.executor.prepare import job_outputs
from runner.sailthru.errors import ClientError

if TYPE_CHECKING:
    from runner.executor.progress import RunObserver
    from runner.executor.state import JobRecord
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
