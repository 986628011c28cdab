"""JSON lines are read as the standard (and a real server) reads them: ``NaN`` and
``Infinity`` are not JSON, and a line nested too deeply is a problem on its line, never a
traceback, for a JSON-lines file check and for purchase files alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.jobtypes import JsonLinesFile, LineProblem
from runner.preflight import check_file

DEEP = '{"url": "https://e.com/a", "vars": ' + "[" * 100_000 + "]" * 100_000 + "}\n"


class Anything(JsonLinesFile):
    kind = "anything"
    noun = "record"

    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        return iter(())


def test_nan_and_infinity_are_not_json(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n{"a": NaN}\n{"a": -Infinity}\n')
    report = Anything().check(data)
    assert (report.lines, report.invalid) == (3, 2)
    assert [p.line for p in report.problems] == [2, 3]
    assert "NaN is not JSON" in report.problems[0].message
    assert "-Infinity is not JSON" in report.problems[1].message


def test_a_line_nested_too_deeply_is_a_problem_on_its_line(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n' + DEEP)
    report = Anything().check(data)
    assert report.invalid == 1
    assert report.problems[0].line == 2
    assert "nested too deeply" in report.problems[0].message
    purchases = tmp_path / "p.jsonl"
    purchases.write_text(DEEP)
    assert "nested too deeply" in check_file("purchases", purchases).summary()
