"""The bad-input corpus: a file per rule, each with the exact report it must give."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.jobtypes import MAX_UPLOAD_BYTES
from runner.preflight.checks import check_file
from runner.preflight.scan import MAX_LINE_BYTES

CORPUS = Path(__file__).parent / "corpus"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_corpus_file_gives_its_expected_report(case: dict[str, Any]) -> None:
    report = check_file(case["kind"], CORPUS / case["file"])
    assert report.summary() == case["summary"]
    assert report.ok is case["ok"]
    if "problems" in case:
        assert [problem.render() for problem in report.problems] == case["problems"]
    assert [warning.render() for warning in report.warnings] == case.get("warnings", [])


def test_every_corpus_file_has_a_case() -> None:
    files = {path.name for path in CORPUS.iterdir() if path.name != "cases.yaml"}
    assert files == {case["file"] for case in CASES}


def test_a_100_mb_single_line_is_reported_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "one-line.jsonl"
    size = 100 * 1024 * 1024
    with path.open("wb") as stream:
        stream.write(b'{"email":"a@example.com","vars":{"blob":"')
        stream.write(b"x" * (size - 44))
        stream.write(b'"}}')
    assert path.stat().st_size == size
    tracemalloc.start()
    try:
        report = check_file("purchases", path, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.summary() == (
        f"1 of 1 lines invalid; line 1: line is {size:,} bytes long, over the "
        f"{MAX_LINE_BYTES:,}-byte limit for one line; is the whole file on one line?"
    )
    assert peak < 8 * MAX_LINE_BYTES  # a few blocks, never the line
    # The same through the worker processes (the file is big enough to use them).
    assert check_file("purchases", path).summary() == report.summary()


def test_a_file_over_1_gb_is_refused_with_the_apis_message(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as stream:
        stream.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: no disk blocks written
    for kind in ("purchases", "emails", "signup_dates"):
        report = check_file(kind, path)
        assert not report.ok
        assert report.summary() == (
            "The size of the file exceeds the maximum upload file size Max upload is 1gb "
            "(1,073,741,825 bytes, 1 over); split it into files of at most 1 GB"
        )


def test_the_size_limit_is_inclusive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "emails.txt"
    path.write_bytes(b"a@example.com\n")
    monkeypatch.setattr("runner.preflight.checks.MAX_UPLOAD_BYTES", path.stat().st_size)
    assert check_file("emails", path).ok
    monkeypatch.setattr("runner.preflight.checks.MAX_UPLOAD_BYTES", path.stat().st_size - 1)
    assert "maximum upload file size" in check_file("emails", path).summary()


def test_missing_file_directory_and_bom_only(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    assert check_file("purchases", missing).summary() == f"file not found: {missing}"
    assert check_file("emails", tmp_path).summary() == f"{tmp_path} is not a file"
    bom_only = tmp_path / "bom.txt"
    bom_only.write_bytes(b"\xef\xbb\xbf")
    assert (
        check_file("emails", bom_only).summary() == "the file is empty; there is nothing to import"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    path.write_text("{}\n")
    path.chmod(0)
    assert check_file("purchases", path).summary() == f"cannot read {path}: Permission denied"


def test_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown file kind 'xml'"):
        check_file("xml", tmp_path)  # type: ignore[arg-type]


def test_max_problems_limits_the_list_not_the_count() -> None:
    report = check_file("purchases", CORPUS / "forbidden_fields.jsonl", max_problems=1)
    assert (report.invalid, len(report.problems)) == (2, 1)
    assert report.render().splitlines()[-1] == "  … and 1 more"
    quiet = check_file("purchases", CORPUS / "forbidden_fields.jsonl", max_problems=0)
    assert (quiet.summary(), quiet.ok) == ("2 of 3 lines invalid", False)
