"""Every public purchase example (tests/preflight/data/SOURCES.md) passes pre-flight and imports
on the sandbox through the official Python client; the seed's pretty-printed form is refused."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.preflight.checks import check_file
from runner.testing import wait_for_job

DATA = Path(__file__).parent / "data"
# file: (lines, warnings as (path, lines))
EXAMPLES: dict[str, tuple[int, list[tuple[str, int]]]] = {
    "seed_purchase_import.jsonl": (3, []),
    "python_client_purchase.jsonl": (2, []),
    "ruby_client_purchase.jsonl": (2, []),
    "java_client_purchase.jsonl": (1, [("items[0].qty", 1), ("items[0].price", 1)]),
}
EXTIDS = {
    "seed_purchase_import.jsonl": ["purchase101", "purchase202", "purchase303"],
    "python_client_purchase.jsonl": ["py-order-1", "py-order-2"],
    "ruby_client_purchase.jsonl": ["rb-order-1", "rb-order-2"],
    "java_client_purchase.jsonl": ["java-order-1"],
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_public_example_passes_preflight(name: str) -> None:
    lines, warnings = EXAMPLES[name]
    report = check_file("purchases", DATA / name)
    assert report.ok, report.render()
    assert report.lines == lines
    assert [(w.path, w.lines) for w in report.warnings] == warnings


def test_the_seeds_easier_viewed_format_is_refused_saying_one_object_per_line() -> None:
    report = check_file("purchases", DATA / "seed_pretty_printed.txt")
    assert not report.ok
    assert report.summary() == (
        "line 1: the purchases span several lines (pretty-printed JSON); write each "
        "purchase as one JSON object on one line"
    )


def purchase_log(
    sandbox: Any, client: SailthruClient, start: str, end: str
) -> list[dict[str, str]]:
    answer = client.api_post(
        "job", {"job": "export_purchase_log", "start_date": start, "end_date": end}
    ).get_body()
    job = wait_for_job(sandbox, answer["job_id"])
    assert job["status"] == "completed", job
    text = requests.get(job["export_url"], timeout=10).text
    return list(csv.DictReader(io.StringIO(text)))


def test_each_public_example_imports_on_the_sandbox(sandbox: Any) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    for name in sorted(EXAMPLES):
        answer = client.api_post(
            "job", {"job": "purchase_import", "file": str(DATA / name)}, ["file"]
        )
        assert answer.is_ok(), answer.get_body()
        job = wait_for_job(sandbox, answer.get_body()["job_id"])
        assert job["status"] == "completed", (name, job)
    extids = {row["Extid"] for row in purchase_log(sandbox, client, "20160601", "20160630")}
    for name, expected in EXTIDS.items():
        assert set(expected) <= extids, name
