"""Fresh links for outputs the run state did not keep (``runner.executor.state.sealing``).

A resumed or retried run reads a job's export URL from the state (to download it, after a
crash or a failed download), and a run that borrows a job's outputs (``--select b``) sends
them; by default the state keeps only the link's host. Sailthru still has the job: one GET
of it gives the link again (for as long as Sailthru keeps the export). A split job's id is
its parts' ids joined (``a,b``), which Sailthru does not know: each part's link comes from
the part's own job.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from runner.executor.prepare import job_outputs
from runner.executor.splitparts import PART_SEPARATOR, part_range
from runner.executor.state.sealing import KEY_ENV
from runner.sailthru.errors import ClientError

if TYPE_CHECKING:
    from runner.executor.progress import RunObserver
    from runner.executor.state import JobRecord
    from runner.jsontypes import JSONDict, JSONValue
    from runner.manifest.planner import Plan
    from runner.sailthru.client import SailthruClient

_Fetch = Callable[[str], "JSONDict"]  # a Sailthru job id → the outputs of a GET of it


class LinkNotGiven(Exception):
    """Sailthru did not give a withheld link again (the GET failed, or the export is gone)."""


def refresh_withheld(
    records: Iterable[JobRecord], client: SailthruClient, progress: RunObserver
) -> None:
    """Each record with a withheld link gets the links of a fresh GET of its job."""
    fetch = _fetcher(client)
    for record in records:
        # A split job's part rows: nothing reads their links (the job's ``parts`` do).
        if not record.withheld or PART_SEPARATOR in record.job:
            continue
        try:
            record.outputs = fresh_links(record.outputs, record.remote_job_id, fetch)
        except LinkNotGiven as exc:
            progress.message(
                f"{record.job}: the run state does not keep export links, and Sailthru did "
                f"not give a fresh one ({exc}); what reads its link will fail",
                level="warning",
            )
            continue
        record.withheld = False


def links_still_read(plan: Plan, records: Mapping[str, JobRecord]) -> list[JobRecord]:
    """The records of a continued run whose withheld links it still reads: a job whose
    actions are to run (a polled one gets its link from the poll), and a finished one whose
    outputs a job still to run reads. One GET each, not one per finished export."""

    def to_run(job: str) -> bool:
        record = records.get(job)
        return record is None or not record.status.is_terminal

    return [
        record
        for job, record in records.items()
        if record.withheld
        and (
            (record.outcome is not None and not record.status.is_terminal)
            or any(plan.reason(dep, job) != "needs" and to_run(dep) for dep in plan.dependents(job))
        )
    ]


def refresh_borrowed(plan: Plan, client: SailthruClient) -> dict[str, str]:
    """Each borrowed run whose links the state withheld gets fresh ones, so a job's
    parameters never carry a placeholder (``https://host/***``). Returns the borrowed jobs
    Sailthru gave no link for, with why: their outputs still hold the placeholder."""
    fetch = _fetcher(client)
    not_given = {}
    for job_id, found in plan.borrowed_from.items():
        if not found.withheld:
            continue
        try:
            outputs = fresh_links(found.outputs, found.remote_job_id, fetch)
        except LinkNotGiven as exc:
            not_given[job_id] = str(exc)
            continue
        plan.borrowed_from[job_id] = replace(found, outputs=outputs, withheld=False)
    return not_given


def fresh_links(
    outputs: Mapping[str, JSONValue], remote_job_id: str | None, fetch: _Fetch
) -> JSONDict:
    """``outputs`` with their export links fetched again: a split job's (``parts``) from
    each part's own job, any other's from its job. Raises LinkNotGiven."""
    parts = outputs.get("parts")
    if isinstance(parts, list):  # the job's id is the parts' joined: never asked for
        return {**outputs, "parts": [_fresh_part(part, fetch) for part in parts]}
    if remote_job_id is None:
        raise LinkNotGiven("no Sailthru job id was recorded")
    fresh = fetch(remote_job_id)
    if "export_url" in outputs and not isinstance(fresh.get("export_url"), str):
        raise LinkNotGiven(f"job {remote_job_id} has no export any more, it may have expired")
    return {**outputs, **fresh}


def _fresh_part(part: JSONValue, fetch: _Fetch) -> JSONValue:
    if not isinstance(part, dict) or not part.get("export_url"):
        return part  # no link stored: nothing to fetch
    job_id = part.get("job_id")
    if not isinstance(job_id, str):
        raise LinkNotGiven(f"part ({part_range(part)}) has no job id")
    url = fetch(job_id).get("export_url")
    if not isinstance(url, str):
        raise LinkNotGiven(
            f"part ({part_range(part)}), job {job_id}, has no export any more, it may have expired"
        )
    return {**part, "export_url": url}


def _fetcher(client: SailthruClient) -> _Fetch:
    """One GET per Sailthru job (a failure is not kept: it raises LinkNotGiven)."""

    @cache
    def fetch(remote_job_id: str) -> JSONDict:
        try:
            info = client.get_job(remote_job_id)
        except ClientError as exc:
            raise LinkNotGiven(str(exc)) from None
        outputs = job_outputs(info, remote_job_id)
        if info.expired:
            outputs.pop("export_url", None)  # a link that answers 404 is no link
        return outputs

    return fetch


def borrowed_links(
    plan: Plan,
    client: SailthruClient,
    command: str,
    submits: Callable[[str], bool],
    progress: RunObserver,
) -> str | None:
    """Fresh links for the borrowed outputs the state withheld, before anything is sent: a
    job never sends a placeholder (``https://host/***``) as a parameter. Without one, the
    error that stops the run (nothing sent) when a job that reads it is to be submitted
    (``submits``; ``command``: the run's, for the advice)."""
    for job, reason in refresh_borrowed(plan, client).items():
        found = plan.borrowed_from[job]
        readers = [reader for reader in plan.borrowed[job] if submits(reader)]
        why = (
            f"{job}'s outputs from {found.describe()}: the run state does not keep export "
            f"links, and Sailthru did not give it again ({reason})"
        )
        if not readers:  # submitted already: only their actions may read it
            progress.message(f"{why}; what reads its link will fail", level="warning")
            continue
        selectors = shlex.quote(" ".join(f"+{reader}" for reader in readers))
        return (
            f"{', '.join(readers)} read{'s' * (len(readers) == 1)} {why}; nothing was sent. "
            f"`{command} --select {selectors}` exports {job} again (set {KEY_ENV} to keep "
            "links, encrypted, in the state)"
        )
    return None
