"""Every job type's happy path through sailjobs' own client: submit, poll to the end, and
for exports download the file. On a real account (SAILJOBS_CONTRACT_*) only the exports run.

Each test collects every difference from what the page and the API notes promise, so one
failing scenario reports all of its differences at once.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from runner.sailthru.client import RetryConfig, SailthruClient
from runner.sailthru.jobinfo import JobInfo
from tests.contract.conftest import Target

PURCHASE_LINE = (
    '{"email": "contract@example.com", "date": "%s", "purchase_keys": {"extid": "contract-1"},'
    ' "items": [{"qty": 1, "id": "SKU1", "title": "Mug", "price": 1200,'
    ' "url": "https://example.com/mug"}]}\n'
)
LIST_HEADER = ["Profile Id", "Email Hash"]
PURCHASE_HEADER = [
    "Date", "Email Hash", "Extid", "Message ID", "Items", "Urls", "Price", "Channel",
    "Unit Prices", "Quantities",
]  # fmt: skip


@dataclass(frozen=True)
class HappyPath:
    payload: dict[str, object]
    read_only: bool
    header: list[str] | None = None  # the export's first columns, when it is an export
    upload: str | None = None  # the file sent as the ``file`` part


def happy_paths(target: Target) -> dict[str, HappyPath]:
    today = date.today()
    week_ago = today - timedelta(days=6)
    return {
        "export_list_data": HappyPath(
            {"job": "export_list_data", "list": target.list_name, "fields": {"engagement": 1}},
            read_only=True,
            header=[*LIST_HEADER, "Engagement"],
        ),
        "export_purchase_log": HappyPath(
            {
                "job": "export_purchase_log",
                "start_date": int(f"{week_ago:%Y%m%d}"),
                "end_date": int(f"{today:%Y%m%d}"),
            },
            read_only=True,
            header=PURCHASE_HEADER,
        ),
        "export_scheduled_sends": HappyPath(
            {"job": "export_scheduled_sends"}, read_only=True, header=[]
        ),
        "import": HappyPath(
            {"job": "import", "list": "sailjobs contract", "emails": "contract@example.com"},
            read_only=False,
        ),
        "purchase_import": HappyPath(
            {"job": "purchase_import"}, read_only=False, upload=PURCHASE_LINE % today.isoformat()
        ),
    }


@pytest.fixture
def client(target: Target) -> Iterator[SailthruClient]:
    own = SailthruClient(
        target.api_key, target.secret, target.url, retry=RetryConfig(attempts=4, initial=0.2)
    )
    yield own
    own.close()


def poll_to_the_end(client: SailthruClient, job_id: str, timeout: float) -> JobInfo:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        info = client.get_job(job_id)
        if info.finished or time.monotonic() > deadline:
            return info
        time.sleep(delay)
        delay = min(delay * 2, 10.0)


def answer_differences(info: JobInfo, submitted: JobInfo, export: bool) -> list[str]:
    """What the finished job's GET answer lacks, against the page and the API notes."""
    differences = []
    if not info.succeeded:
        differences.append(f"status {info.status!r} ({info.error_message}), not 'completed'")
    if info.job_id != submitted.job_id:
        differences.append(f"job_id {info.job_id!r} is not the POST's {submitted.job_id!r}")
    if not submitted.name:
        differences.append("the POST's answer has no name")
    if info.start_time is None:
        differences.append("no start_time")
    if info.end_time is None and "stop_time" not in info.fields:
        differences.append("neither end_time nor stop_time")
    if export and not (info.export_url and info.filename):
        differences.append(f"no export_url/filename: {sorted(info.fields)}")
    return differences


@pytest.mark.parametrize(
    "job",
    [
        "export_list_data",
        "export_purchase_log",
        "export_scheduled_sends",
        "import",
        "purchase_import",
    ],
)
def test_the_job_runs_to_the_end(
    target: Target, client: SailthruClient, job: str, tmp_path: Path
) -> None:
    path = happy_paths(target)[job]
    target.allow(path.read_only, f"{job} writes to the account")
    if job == "export_list_data" and not target.list_name:
        pytest.skip("set SAILJOBS_CONTRACT_LIST to a list of the account to export it")
    upload = None
    if path.upload is not None:
        upload = tmp_path / "upload.jsonl"
        upload.write_text(path.upload)
    submitted = client.submit_job(path.payload, file=upload, resubmit_safe=path.read_only)
    info = poll_to_the_end(client, submitted.job_id, target.timeout)
    differences = answer_differences(info, submitted, export=path.header is not None)
    if path.header is not None and info.export_url:
        result = client.download_job_export(info, tmp_path / "export.csv")
        with open(result.path, newline="", encoding="utf-8") as export:
            header = next(csv.reader(export), [])
        if header[: len(path.header)] != path.header:
            differences.append(f"the CSV starts {header[: len(path.header)]}, not {path.header}")
    assert differences == [], f"{target.name}: {job}: " + "; ".join(differences)
