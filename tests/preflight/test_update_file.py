"""Pre-flight of an ``update`` job's file: JSON lines, one user per line (``UpdateFile``)."""

from __future__ import annotations

import json
from pathlib import Path

from runner.plugins import job_types
from runner.preflight.jobfiles import check_job_files


def report_of(tmp_path: Path, lines: list[str]):
    (tmp_path / "updates.jsonl").write_text("".join(line + "\n" for line in lines))
    [report] = check_job_files(job_types()["update"], {"file": "updates.jsonl"}, tmp_path)
    return report


def test_good_lines_pass_and_repeated_users_are_counted(tmp_path: Path) -> None:
    lines = [
        {"id": "ada@example.com", "key": "email", "vars": {"plan": "pro"}, "lists": {"VIP": 1}},
        {"email": "ADA@example.com", "optout_email": "basic"},  # the same user again
        {"id": "0123abc", "key": "sid", "lists": {"Old": 0}, "optout": "none"},
        {"id": "bob@example.com"},
    ]
    report = report_of(tmp_path, [json.dumps(line) for line in lines])
    assert (report.kind, report.ok, report.lines, report.invalid) == ("update", True, 4, 0)
    assert report.duplicates == 1
    assert "1 repeated user" in report.summary()
    assert report.warnings == []


def test_each_bad_line_is_named_with_what_is_wrong(tmp_path: Path) -> None:
    report = report_of(
        tmp_path,
        [
            '{"vars": {"plan": "pro"}}',
            '{"id": "bob@example.com", "lists": {"VIP": "yes"}}',
            '{"id": "not-an-address", "vars": {"a": 1}}',
            '{"id": "cy@example.com", "optout_email": "sometimes"}',
            '{"id": "di@example.com", "vars": ["plan"]}',
            "[1, 2]",
            '{"id": "ed@example.com",',
            '{"id": "fay@example.com", "vars": {"a": 1}}',
        ],
    )
    assert not report.ok and (report.lines, report.invalid) == (8, 7)
    assert [(p.line, p.path, p.message) for p in report.problems] == [
        (1, "", "name the user: give `email`, or `id` (with `key`, email unless said)"),
        (2, "lists.VIP", "expected 1 (add to the list) or 0 (remove from it), got 'yes'"),
        (3, "id", "not a valid email address: 'not-an-address'"),
        (
            4,
            "optout_email",
            "'sometimes' is not an opt-out level; write one of none, basic, blast, all",
        ),
        (5, "vars", "`vars` is a map of variable names to values"),
        (6, "", "each line is one JSON object (a profile update), not a list"),
        (
            7,
            "",
            "not valid JSON (Expecting property name enclosed in double quotes: line 1 "
            "column 25 (char 24)); write each profile update as one JSON object",
        ),
    ]


def test_keys_the_docs_do_not_show_are_warnings(tmp_path: Path) -> None:
    report = report_of(
        tmp_path,
        [
            '{"id": "ada@example.com", "templates": {"Welcome": 1}}',
            '{"id": "C-1", "key": "phone"}',
            '{"id": "bob@example.com", "email": "bob@example.com"}',
        ],
    )
    assert report.ok, report.render()
    assert [(w.line, w.path) for w in report.warnings] == [
        (1, "templates"),
        (2, "key"),
        (3, "email"),
    ]
    assert "the sandbox ignores it" in report.warnings[0].message


def test_an_empty_file_and_a_json_array_are_refused(tmp_path: Path) -> None:
    assert not report_of(tmp_path, []).ok
    (tmp_path / "updates.jsonl").write_text('[{"id": "ada@example.com"}]')
    [report] = check_job_files(job_types()["update"], {"file": "updates.jsonl"}, tmp_path)
    assert not report.ok
