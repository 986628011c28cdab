"""Pre-flight checks of one file a job uploads, before it is submitted (issue 7).

``check_file`` checks one file of a kind (``emails``, ``signup_dates``, ``purchases``) and
returns a :class:`PreflightReport`: totals and the first problems with line numbers and field
paths. Which file of a job is which kind is the job type's to say (``JobType.file_checks``,
runner/preflight/filecheck.py); ``runner/preflight/jobfiles.py`` checks a job's files.

Every file: exists, is readable, is at most 1 GB (the API's limit), is UTF-8 (a BOM is
tolerated). The content checks stream the file in constant memory; purchase files and plain
email lists use both cores (runner/preflight/scan.py).

In a file of addresses, a line (or CSV row) whose address is not one is a warning: the job
API page documents no error for it and the import skips it (as the sandbox's does). A file
in which no line holds an address is refused: the import would add nobody.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from runner.limits import MAX_UPLOAD_BYTES
from runner.preflight.csvfiles import CsvHeaderError, scan_emails_file, scan_signup_dates_file
from runner.preflight.pool import scan_lines
from runner.preflight.scan import (
    BOM,
    DuplicateCounter,
    FileProblem,
    FileWarning,
    ScanResult,
    json_lines_shape,
)

__all__ = [
    "FileKind",
    "FileProblem",
    "FileWarning",
    "PreflightReport",
    "check_file",
]

FileKind = Literal["emails", "signup_dates", "purchases"]
FILE_KINDS: Final = ("emails", "signup_dates", "purchases")
# (one, many): what a duplicate is for each kind of file.
_DUPLICATE_WORDS: Final = {
    "emails": ("duplicate address", "duplicate addresses"),
    "signup_dates": ("duplicate address", "duplicate addresses"),
    "purchases": ("repeated purchase_keys.extid", "repeated purchase_keys.extid values"),
}


@dataclass
class PreflightReport:
    """The outcome of checking one file. ``ok`` is False when any line is invalid or the file
    itself cannot be used; duplicates, ``warnings`` (what the API is not documented to
    refuse, one entry per kind with its count of lines) and ``skipped`` lines (of an import
    file: no valid address, so the import skips them; each has a warning) are reported but do
    not make a file fail."""

    file: Path
    kind: str
    lines: int = 0
    invalid: int = 0
    duplicates: int = 0
    problems: list[FileProblem] = field(default_factory=list)  # the first ``max_problems``
    param: str = "file"  # the job parameter that names the file
    warnings: list[FileWarning] = field(default_factory=list)
    name: str = ""  # the file as the manifest names it, for messages; ``file`` if empty
    skipped: int = 0  # lines the import skips, of ``lines``; each kind is also a warning
    # What a repeated key is called ("repeated url", "repeated urls"); by kind if None.
    duplicate_words: tuple[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and not self.problems

    def summary(self) -> str:
        """One line: ``3 of 1,204,553 lines invalid; line 17: items[0].price: …``."""
        if self.problems and self.invalid == 0:  # the file as a whole
            return self.problems[0].render()
        if self.invalid:
            text = f"{self.invalid:,} of {self.lines:,} lines invalid"
            if self.problems:
                text += f"; {self.problems[0].render()}"
        elif self.skipped:
            text = (
                f"{self.lines:,} lines, {self.skipped:,} skipped by the import (no valid address)"
            )
        else:
            text = f"{self.lines:,} lines, all valid"
        if self.duplicates:
            one, many = self.duplicate_words or _DUPLICATE_WORDS.get(
                self.kind, ("duplicate", "duplicates")
            )
            text += f"; {self.duplicates:,} {one if self.duplicates == 1 else many}"
            if self.kind in ("emails", "signup_dates"):
                text += " (compared without case)"
        if self.warnings:
            count = sum(warning.lines for warning in self.warnings)
            text += f"; {count:,} warning{'s' * (count != 1)} (first: {self.warnings[0].render()})"
        return text

    def warning_lines(self) -> list[str]:
        """Each kind of warning on one line, ``data.jsonl:3: path: message; N more lines …``."""
        name = self.name or str(self.file)
        return [warning.render(name) for warning in self.warnings]

    def render(self) -> str:
        """The file, the summary, then each of the first problems on its own line."""
        lines = [f"{self.file}: {self.summary()}"]
        if self.invalid > 1:
            lines += [f"  {problem.render()}" for problem in self.problems]
            if self.invalid > len(self.problems):
                lines.append(f"  … and {self.invalid - len(self.problems):,} more")
        lines += [f"  warning: {warning.render()}" for warning in self.warnings]
        return "\n".join(lines)


def check_file(
    kind: FileKind, path: Path, *, max_problems: int = 10, workers: int | None = None
) -> PreflightReport:
    """Check one file of ``kind``; never raises for a problem of the file itself."""
    if kind not in FILE_KINDS:
        raise ValueError(f"unknown file kind {kind!r}; expected one of {', '.join(FILE_KINDS)}")
    path = Path(path)
    report = PreflightReport(file=path, kind=kind)
    size_or_problem = usable_size(path)
    if isinstance(size_or_problem, str):
        report.problems.append(FileProblem(0, "", size_or_problem))
        return report
    size = size_or_problem
    if kind == "purchases" and (shape := json_lines_shape(path, "purchase")):
        report.problems.append(FileProblem(1, "", shape))
        return report
    duplicates = DuplicateCounter()
    try:
        result = _scan(kind, path, size, max_problems, workers, duplicates)
        report.duplicates = duplicates.count()
    except CsvHeaderError as error:
        report.problems.append(FileProblem(1, "", str(error)))
        return report
    except OSError as error:  # removed or unreadable while it was being checked
        report.problems.append(FileProblem(0, "", f"cannot read {path}: {error.strerror or error}"))
        return report
    finally:
        duplicates.close()
    report.lines, report.invalid, report.problems = result.lines, result.invalid, result.problems
    report.skipped = result.skipped
    report.warnings = list(result.warnings.values())
    if report.lines == 0 and not report.problems:
        report.problems.append(FileProblem(0, "", "the file has no data lines; nothing to import"))
    elif report.invalid == 0 and report.skipped == report.lines > 0:
        report.problems.append(FileProblem(0, "", _adds_nobody(report)))
    return report


def _adds_nobody(report: PreflightReport) -> str:
    """Refused, not warned: the job would "complete" having imported nobody (the sandbox
    answers ``import_count`` 0), which is never what a manifest meant. The message holds the
    first kind of skipped line, taken out of the warnings so that it is not said twice."""
    count = report.lines
    first = f"; first: {report.warnings.pop(0).render()}" if report.warnings else ""
    return (
        f"no valid email address in {count:,} line{'s' * (count != 1)}, so the import would "
        f"add nobody (each line is skipped{first}); write one address per line, or a CSV "
        'whose "email" column holds the addresses'
    )


def _scan(
    kind: str,
    path: Path,
    size: int,
    max_problems: int,
    workers: int | None,
    duplicates: DuplicateCounter,
) -> ScanResult:
    if kind == "purchases":
        return scan_lines(
            "purchases",
            path,
            size,
            max_problems=max_problems,
            workers=workers,
            duplicates=duplicates,
        )
    if kind == "emails":
        return scan_emails_file(
            path, size, max_problems=max_problems, workers=workers, duplicates=duplicates
        )
    return scan_signup_dates_file(path, max_problems=max_problems, duplicates=duplicates)


def usable_size(path: Path) -> int | str:
    """The file's size, or why it cannot be uploaded (the API's 1 GB limit included)."""
    try:
        if not path.exists():
            return f"file not found: {path}"
        if not path.is_file():
            return f"{path} is not a file"
        size = path.stat().st_size
        with path.open("rb") as stream:
            stream.read(1)
    except OSError as error:
        return f"cannot read {path}: {error.strerror or error}"
    if size > MAX_UPLOAD_BYTES:
        return (
            "The size of the file exceeds the maximum upload file size Max upload is 1gb "
            f"({size:,} bytes, {size - MAX_UPLOAD_BYTES:,} over); split it into files of "
            "at most 1 GB"
        )
    if size == 0 or (size <= len(BOM) and path.read_bytes() in (BOM, BOM[:size])):
        return "the file is empty; there is nothing to import"
    return size
