"""``split: true``: a job whose range is over its type's limit, run as consecutive parts.

The job type's ``splitter`` (runner/splitting.py) says what the parts are; the executor
never asks which type it runs. The scheduler submits one API job per part (the part's
parameters laid over the job's), polls them
together and, once every part completed, ``join_parts`` downloads the parts' CSVs and joins
them into one file with one header (``runner.executor.csvjoin.join_csv_parts``: streamed,
atomic, 0600) in the run state folder. The joined file is then offered to the job's actions as a local
export: the ``export_path`` output (``runner.actions.ActionContext.export_path``), which
``download`` copies with the same atomic, 0600, ``overwrite`` rules as a downloaded export.
A split job has no ``export_url``. Outputs: ``parts`` (each part's dates and job_id),
``export_path``, ``filename``, ``rows``, ``bytes``, ``sha256``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.executor.csvjoin import JoinResult, join_csv_parts
from runner.jsontypes import JSONDict
from runner.sailthru.jobinfo import FAILURE_STATUSES, JobInfo
from runner.splitting import PartParams, Splitter

if TYPE_CHECKING:
    from runner.executor.state import JobRecord, RunState
    from runner.manifest.models import JobSpec
    from runner.sailthru.client import SailthruClient

PART_SEPARATOR = "~"  # part rows in the run state: "<job id>~<n>" (never a valid job id)


@dataclass
class SplitPart:
    index: int  # 1-based
    params: PartParams  # what the part sets over the job's parameters (its range)
    span: str  # the range in a few characters (the splitter's)
    remote_job_id: str | None = None
    status: str | None = None
    info: JobInfo | None = None  # the last one

    @property
    def state_key(self) -> str:
        return f"{PART_SEPARATOR}{self.index}"

    @property
    def label(self) -> str:
        return f"part {self.index} ({self.span})"

    def payload(self, base: JSONDict) -> JSONDict:
        return {**base, **self.params}

    def describe(self) -> JSONDict:
        return {
            **self.params,
            "job_id": self.remote_job_id,
            "export_url": getattr(self.info, "export_url", None),
        }


def part_range(part: Mapping[str, object]) -> str:
    """A part's own parameters as stored in its outputs (``start_date 20260101, end_date
    20260131``), whatever its splitter."""
    return ", ".join(f"{key} {value}" for key, value in part.items() if key not in _PART_FIELDS)


_PART_FIELDS = frozenset({"job_id", "export_url"})  # what describe() adds to a part's params


def split_parts(
    spec: JobSpec, splitter: Splitter | None, params: JSONDict
) -> list[SplitPart] | None:
    """The parts of a job with ``split: true`` whose range is over its type's limit; None
    otherwise (one API job)."""
    if not getattr(spec, "split", False) or splitter is None:
        return None
    ranges = splitter.parts(params)
    if not ranges:
        return None
    return [
        SplitPart(index, part, splitter.span(part)) for index, part in enumerate(ranges, start=1)
    ]


def join_parts(
    client: SailthruClient, parts: list[JSONDict], folder: Path, name: str
) -> JoinResult:
    """Download every part's export into ``folder`` and join them into ``folder/name``.

    Downloads are atomic and resumable (the client's), so calling this again after a crash
    picks up where it stopped. The part files are removed once joined.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = []
    for number, part in enumerate(parts, start=1):
        url = part.get("export_url")
        if not url or not isinstance(url, str):
            raise RuntimeError(
                f"part {number} ({part_range(part)}) has no export to download (it may have "
                "expired)"
            )
        target = folder / f"part-{number}.csv"
        if not target.exists():
            # The client retries and resumes; when it gives up the job fails: keep nothing.
            client.download_export(url, target, keep_partial=False)
        files.append(target)
    result = join_csv_parts(files, folder / name)
    for file in files:
        file.unlink(missing_ok=True)
    return result


def submit_parts(
    client: SailthruClient, state: RunState, run_id: str, job_id: str, job_type: str,
    parts: list[SplitPart], payload: JSONDict, attempts: int, resubmit_safe: bool,
) -> list[JobInfo]:  # fmt: skip
    """POST every part (resubmitted after a lost answer only if the type says it is safe),
    each part's intent and job_id recorded as its own row so a resumed run polls it."""
    infos = []
    for part in parts:
        key = job_id + part.state_key
        state.add_job(run_id, key, job_type)
        state.record_intent(run_id, key, part.params, attempts)
        info = client.submit_job(part.payload(payload), resubmit_safe=resubmit_safe)
        state.record_submitted(run_id, key, info.job_id, info.status)
        infos.append(info)
    return infos


def restore_parts(
    job_id: str, records: dict[str, JobRecord], splitter: Splitter | None
) -> list[SplitPart] | None:
    """The parts a resumed run polls, from their rows in the run state (None: not split)."""
    if splitter is None:
        return None
    parts = []
    index = 1
    while (record := records.get(f"{job_id}{PART_SEPARATOR}{index}")) is not None:
        if record.remote_job_id is None:
            return None
        params = {key: str(value) for key, value in record.params.items()}
        try:
            span = splitter.span(params)
        except (KeyError, TypeError):  # a row written by another version: not a part
            return None
        parts.append(SplitPart(index, params, span, record.remote_job_id, record.remote_status))
        index += 1
    return parts or None


def poll_parts(client: SailthruClient, parts: list[SplitPart]) -> list[tuple[int, JobInfo]]:
    """GET every part not known to be completed yet."""
    return [
        (part.index, client.get_job(str(part.remote_job_id)))
        for part in parts
        if part.status != "completed"
    ]


def combined_info(
    combined_id: str, parts: list[SplitPart], answers: list[tuple[int, JobInfo]]
) -> JobInfo:
    """One JobInfo for the whole split job: failed if a part failed, completed when all are."""
    by_index = {part.index: part for part in parts}
    for index, info in answers:
        by_index[index].info, by_index[index].status = info, info.status
    fields: JSONDict = {"job_id": combined_id, "name": f"{len(parts)} parts"}
    failed = [part for part in parts if part.status in FAILURE_STATUSES]
    expired = [
        part for part in parts if part.status == "completed" and part.info and part.info.expired
    ]
    if failed:
        part = failed[0]
        detail = (part.info.fields.get("error_message") if part.info else None) or part.status
        fields.update(status=part.status, error_message=f"{part.label}: {detail}")
    elif expired:
        fields.update(status="completed", expired=True)
    elif all(part.status == "completed" for part in parts):
        fields.update(status="completed", parts=[part.describe() for part in parts])
    else:
        running = any(part.status == "running" for part in parts)
        fields.update(status="running" if running else "pending")
    return JobInfo.from_fields(fields)
