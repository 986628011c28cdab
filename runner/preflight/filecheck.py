"""How a job type says which of its files pre-flight checks, and how (``JobType.file_checks``).

A ``FileCheck`` checks one file and returns a ``PreflightReport``. The built-in ones:

- ``ScannedFile(kind)``: the scanners of ``runner/preflight/checks.py`` (a list of emails, a
  CSV of signup dates, purchase lines), on both cores for a big file;
- ``JsonLinesFile``: a file of JSON objects, one per line, each checked by the subclass's
  ``check_object``, in constant memory. ``update`` and ``content_update`` files use it, and
  so can a plugin's job type.

Pre-flight itself never asks which job type a file belongs to: the type hands it the checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from runner.jsontypes import loads_strict
from runner.preflight.checks import FileKind, PreflightReport, check_file, usable_size
from runner.preflight.scan import (
    BOM,
    DuplicateCounter,
    FileProblem,
    ScanResult,
    json_lines_shape,
    key_hash,
    oversized_message,
    utf8_message,
)
from runner.preflight.scan import iter_lines as _iter_lines


class FileCheck(ABC):
    """How pre-flight checks one file a job uploads."""

    kind: ClassVar[str]  # the report's name for the kind of file

    @abstractmethod
    def check(
        self, path: Path, *, max_problems: int = 10, workers: int | None = None
    ) -> PreflightReport:
        """Check the file; never raise for a problem of the file itself (report it)."""


class ScannedFile(FileCheck):
    """One of pre-flight's own scanners: ``emails``, ``signup_dates`` or ``purchases``."""

    kind = "scanned"

    def __init__(self, kind: FileKind) -> None:
        self.file_kind = kind

    def check(
        self, path: Path, *, max_problems: int = 10, workers: int | None = None
    ) -> PreflightReport:
        return check_file(self.file_kind, path, max_problems=max_problems, workers=workers)

    def __repr__(self) -> str:
        return f"ScannedFile({self.file_kind!r})"


EMAILS_FILE = ScannedFile("emails")
SIGNUP_DATES_FILE = ScannedFile("signup_dates")
PURCHASES_FILE = ScannedFile("purchases")


@dataclass(frozen=True)
class LineProblem:
    """What ``check_object`` found in one line: at ``path`` inside the object (``vars.plan``;
    empty for the whole object). A warning is shown but does not refuse the file."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"


class JsonLinesFile(FileCheck):
    """A file of JSON objects, one per line (JSON Lines), checked one object at a time.

    Subclass it: set ``kind`` and ``noun`` (what one line is: ``"profile update"``), write
    ``check_object``, and ``key`` if a repeated value is worth counting (each line after the
    first with the same key is a duplicate; reported, never refused). Blank lines are skipped.
    """

    kind: ClassVar[str] = "json_lines"
    noun: ClassVar[str] = "object"
    duplicate_words: ClassVar[tuple[str, str]] = ("repeated key", "repeated keys")

    @abstractmethod
    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        """The problems of one line's object."""

    def key(self, value: dict[str, Any]) -> str | None:
        """What must not repeat from one line to another (None: nothing)."""
        return None

    def check(
        self, path: Path, *, max_problems: int = 10, workers: int | None = None
    ) -> PreflightReport:
        path = Path(path)
        report = PreflightReport(file=path, kind=self.kind)
        report.duplicate_words = self.duplicate_words
        size_or_problem = usable_size(path)
        if isinstance(size_or_problem, str):
            report.problems.append(FileProblem(0, "", size_or_problem))
            return report
        shape = json_lines_shape(path, self.noun)
        if shape is not None:
            report.problems.append(FileProblem(1, "", shape))
            return report
        duplicates = DuplicateCounter()
        try:
            result = self._scan(path, max_problems, duplicates)
            report.duplicates = duplicates.count()
        except OSError as error:  # removed or unreadable while it was being checked
            problem = f"cannot read {path}: {error.strerror or error}"
            report.problems.append(FileProblem(0, "", problem))
            return report
        finally:
            duplicates.close()
        report.lines, report.invalid, report.problems = (
            result.lines,
            result.invalid,
            result.problems,
        )
        report.warnings = list(result.warnings.values())
        if report.lines == 0 and not report.problems:
            report.problems.append(
                FileProblem(0, "", "the file has no data lines; nothing to send")
            )
        return report

    def _scan(self, path: Path, max_problems: int, duplicates: DuplicateCounter) -> ScanResult:
        result = ScanResult()
        number = 0
        with path.open("rb") as stream:
            for line, length in _iter_lines(stream, 0, None):
                number += 1
                if line is None:
                    result.lines += 1
                    result.add_problem(number, "", oversized_message(length), max_problems)
                    continue
                if number == 1 and line.startswith(BOM):
                    line = line[len(BOM) :]
                if not line.strip():
                    continue
                result.lines += 1
                value = self._decode(line, number, result, max_problems)
                if value is None:
                    continue
                failed = False
                for problem in self.check_object(value):
                    if problem.severity == "warning":
                        result.add_warning(number, problem.path, problem.message)
                    elif not failed:  # one error per line: the line is invalid
                        result.add_problem(number, problem.path, problem.message, max_problems)
                        failed = True
                key = self.key(value)
                if key is not None:
                    duplicates.add_one(key_hash(key))
        result.physical_lines = number
        return result

    def _decode(
        self, line: bytes, number: int, result: ScanResult, max_problems: int
    ) -> dict[str, Any] | None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            result.add_problem(number, "", utf8_message(line, error), max_problems)
            return None
        try:
            value = loads_strict(text)
        except ValueError as error:
            message = f"not valid JSON ({error}); write each {self.noun} as one JSON object"
            result.add_problem(number, "", message, max_problems)
            return None
        if not isinstance(value, dict):
            kind = "a list" if isinstance(value, list) else type(value).__name__
            message = f"each line is one JSON object (a {self.noun}), not {kind}"
            result.add_problem(number, "", message, max_problems)
            return None
        return value
