"""Warnings: what the API is not documented to refuse is shown, bounded, and never blocks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.executor.lifecycle import run
from runner.executor.progress import Progress
from runner.manifest.loader import load_manifest
from runner.preflight import pool as preflight_pool
from runner.preflight.checks import check_file
from runner.preflight.jobfiles import check_manifest_files
from runner.preflight.scan import MAX_WARNING_KINDS
from runner.results import JobStatus
from runner.sailthru.client import SailthruClient

CORPUS = Path(__file__).parent / "corpus"


def purchase_line(number: int, **extra: Any) -> str:
    item = {"qty": 1, "title": "T", "price": 100, "id": number, "url": "http://e.com/t"}
    data = {
        "email": f"user{number}@example.com",
        "date": "2024-05-01",
        "purchase_keys": {"extid": f"order-{number}"},
        "items": [item, dict(item)],
        **extra,
    }
    return json.dumps(data)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_one_warning_per_kind_with_the_count_of_its_lines(tmp_path: Path) -> None:
    lines = [purchase_line(n, currency="USD") for n in range(1, 1001)]
    lines[499] = purchase_line(500, currency="USD", store="web")
    report = check_file("purchases", write_lines(tmp_path / "p.jsonl", lines))
    assert report.ok and report.invalid == 0
    assert [(w.path, w.line, w.lines) for w in report.warnings] == [
        ("currency", 1, 1000),
        ("store", 500, 1),
    ]
    report.name = "p.jsonl"
    first, second = report.warning_lines()
    assert first.startswith("p.jsonl:1: currency: unknown field, not in Sailthru's purchase API")
    assert first.endswith("; 999 more lines with the same warning")
    assert second.startswith("p.jsonl:500: store: unknown field")
    assert "1,000 warnings" not in report.summary()  # counted by line: 1,001
    assert "1,001 warnings (first: line 1: currency: unknown field" in report.summary()


def test_the_same_field_in_two_items_counts_its_line_once(tmp_path: Path) -> None:
    line = json.loads(purchase_line(1))
    for item in line["items"]:
        item["colour"] = "red"
    report = check_file("purchases", write_lines(tmp_path / "p.jsonl", [json.dumps(line)]))
    [warning] = report.warnings
    assert (warning.path, warning.lines) == ("items[0].colour", 1)


def test_kinds_past_the_limit_are_counted_together(tmp_path: Path) -> None:
    lines = [purchase_line(n, **{f"field{n}": 1}) for n in range(MAX_WARNING_KINDS + 5)]
    report = check_file("purchases", write_lines(tmp_path / "p.jsonl", lines))
    assert len(report.warnings) == MAX_WARNING_KINDS + 1
    other = report.warnings[-1]
    assert (other.line, other.lines) == (MAX_WARNING_KINDS + 1, 5)
    assert other.message.startswith("warnings of other kinds")


def test_workers_count_warnings_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight_pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(preflight_pool, "RANGE_BYTES", 8 << 10)  # many ranges
    lines = [
        purchase_line(n, currency="USD") if n % 7 == 0 else purchase_line(n) for n in range(3000)
    ]
    lines[1234] = '{"email": "broken'
    path = write_lines(tmp_path / "p.jsonl", lines)
    single = check_file("purchases", path, workers=1)
    parallel = check_file("purchases", path, workers=2)
    assert [(w.line, w.lines) for w in single.warnings] == [(1, 429)]
    assert parallel.warnings == single.warnings
    assert (parallel.invalid, parallel.problems) == (single.invalid, single.problems)


def test_validate_deep_shows_warnings_with_the_files_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from runner.cli import cli

    write_lines(tmp_path / "orders.jsonl", [purchase_line(1), purchase_line(2, currency="USD")])
    manifest = tmp_path / "orders.yaml"
    manifest.write_text(
        "version: 1\nname: orders\njobs:\n  load:\n    job: purchase_import\n"
        "    file: orders.jsonl\n"
    )
    [problem] = check_manifest_files(load_manifest(manifest))
    assert not problem.is_error
    assert problem.render().startswith(
        f"{tmp_path}/orders.jsonl:2:1: warning: jobs.load.file: currency: unknown field"
    )
    result = CliRunner().invoke(cli, ["validate", "--deep", str(manifest)])
    assert result.exit_code == 0, result.output
    assert "orders.jsonl:2:1: warning: jobs.load.file: currency: unknown field" in result.output


class Messages(Progress):
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def message(self, text: str, level: str = "info") -> None:  # type: ignore[override]
        self.lines.append((level, text))


def test_a_run_submits_a_file_with_warnings_and_shows_them(sandbox: Any, tmp_path: Path) -> None:
    shutil.copy(CORPUS / "unknown_field.jsonl", tmp_path / "orders.jsonl")
    manifest = tmp_path / "manifest.yaml"
    jobs = {"load": {"job": "purchase_import", "file": "orders.jsonl"}}
    manifest.write_text(yaml.safe_dump({"version": 1, "name": "orders", "jobs": jobs}))
    progress = Messages()
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        result = run(manifest, client=client, state=tmp_path / "state", progress=progress)
    assert result.jobs["load"].status is JobStatus.SUCCEEDED, result.jobs["load"].error
    assert [s["job"] for s in sandbox.submissions()] == ["purchase_import"]
    warnings = [text for level, text in progress.lines if level == "warning"]
    # the run names the file by its resolved path, then its line
    assert any(
        text.startswith("load: pre-flight: ") and "orders.jsonl:1: item: unknown field" in text
        for text in warnings
    ), progress.lines
    # Kept in the job's result too: the summary, --report and --junit show it, even --quiet.
    assert any("item: unknown field" in text for text in result.jobs["load"].warnings)


def test_skipped_addresses_are_one_warning_however_many_differ(tmp_path: Path) -> None:
    """Each bad address differs, yet they make one warning (the first one's value shown), so
    a file of millions prints one line; the import skips them and takes the rest."""
    lines = [f"user{n} at example.com" if n % 2 else f"user{n}@example.com" for n in range(2000)]
    report = check_file("emails", write_lines(tmp_path / "people.txt", lines))
    assert (report.ok, report.lines, report.skipped, report.invalid) == (True, 2000, 1000, 0)
    report.name = "people.txt"
    assert report.warning_lines() == [
        'people.txt:2: not a valid email address, skipped by the import: "user1 at example.com"; '
        "999 more lines with the same warning"
    ]
