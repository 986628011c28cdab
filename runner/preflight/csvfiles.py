"""Pre-flight checks of the import job's files: a list of emails (plain or CSV) and the CSV of
custom signup dates (``signup_dates: 1``).

A CSV is read in one process, in order, with the csv module: a quoted field may hold a newline,
so a CSV cannot be cut into byte ranges safely. A plain list (one address per line) goes
through the parallel line scanner instead.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from runner.dates import is_epoch, parse_date
from runner.emails import is_valid_email
from runner.preflight.pool import scan_lines
from runner.preflight.scan import (
    BOM,
    EMPTY_ADDRESS,
    DuplicateCounter,
    ScanResult,
    iter_lines,
    key_hash,
    oversized_message,
    preview,
    skipped_address_message,
    utf8_message,
)

SIGNUP_HEADER: Final = ("email", "signup_date")


class CsvHeaderError(ValueError):
    """The file's first row cannot be used; the message says what to change."""


def first_row(path: Path) -> list[str] | None:
    """The first non-blank line parsed as a CSV row, or None if there is none."""
    with open(path, "rb") as stream:
        for number, (line, _length) in enumerate(iter_lines(stream, 0, None), start=1):
            if line is None:
                return None
            text = line[3:] if number == 1 and line.startswith(BOM) else line
            if text.strip():
                decoded = text.decode("utf-8", errors="replace")
                try:
                    return next(csv.reader([decoded]))
                except csv.Error:  # a lone CR inside the line: not a CSV header
                    return [decoded]
    return None


def scan_emails_file(
    path: Path,
    size: int,
    *,
    max_problems: int,
    workers: int | None,
    duplicates: DuplicateCounter,
) -> ScanResult:
    """An import file: one email per line, or a CSV whose header has an ``email`` column."""
    header = first_row(path) or []
    names = [name.strip().lower() for name in header]
    if len(names) <= 1 and names != ["email"]:
        return scan_lines(
            "email_list",
            path,
            size,
            max_problems=max_problems,
            workers=workers,
            duplicates=duplicates,
        )
    if "email" not in names:
        # Refused, not warned: the job would "complete" having imported nobody.
        found = ", ".join(preview(name, 30) for name in header)
        hint = (
            " (an export_list_data file holds hashes, not addresses: it cannot feed an import)"
            if "email hash" in names
            else ""
        )
        raise CsvHeaderError(
            f'the CSV header has no "email" column (found {found}), so the import would add '
            f'nobody{hint}; name the column of addresses "email"'
        )
    column = names.index("email")
    result = ScanResult()
    for line, row in csv_rows(path, result, max_problems):
        result.lines += 1
        value = row[column].strip() if column < len(row) else ""
        if _is_address(result, line, value):
            _count_address(value, duplicates)
    return result


def scan_signup_dates_file(
    path: Path, *, max_problems: int, duplicates: DuplicateCounter
) -> ScanResult:
    """The CSV of ``signup_dates``: header ``email,signup_date``, dates that are not UNIX.

    A row whose address is not one is skipped (a warning) before its date is read, as the
    sandbox's import does; a date it cannot read fails the job there, so it is an error here.
    """
    header = first_row(path) or []
    names = tuple(name.strip().lower() for name in header[:2])
    if names != SIGNUP_HEADER:
        found = ",".join(header)
        raise CsvHeaderError(
            'the first row must be the header "email,signup_date" (the API reads the first '
            f"column as email and the second as signup_date), found {preview(found)}"
        )
    result = ScanResult()
    for line, row in csv_rows(path, result, max_problems):
        result.lines += 1
        if not _is_address(result, line, row[0].strip()):
            continue
        if len(row) < 2:  # the import takes the address, without a date (as the sandbox's)
            result.add_warning(
                line,
                "signup_date",
                "missing (the row has one column): the address is imported without a "
                "custom signup date",
            )
            _count_address(row[0].strip(), duplicates)
            continue
        problem = signup_date_problem(row[1])
        if problem:
            result.add_problem(line, "signup_date", problem, max_problems)
            continue
        _count_address(row[0].strip(), duplicates)
    return result


def _is_address(result: ScanResult, line: int, value: str) -> bool:
    """Whether the row's address cell holds an address; if not, the row is skipped (a
    warning: the import skips it, as the sandbox's does)."""
    if not value:
        result.skip_line(line, "email", EMPTY_ADDRESS)
        return False
    if not is_valid_email(value):
        result.skip_line(line, "email", skipped_address_message(value), value)
        return False
    return True


def _count_address(value: str, duplicates: DuplicateCounter) -> None:
    duplicates.add_one(key_hash(value.lower().encode("utf-8")))


def csv_rows(path: Path, result: ScanResult, max_problems: int) -> Iterator[tuple[int, list[str]]]:
    """Data rows after the header with the line each starts on; blank rows are skipped.

    A line that is not UTF-8 or is over the length limit becomes a problem in ``result``
    (counted as one invalid line) and is left out of the CSV.
    """
    physical = 0

    def text_lines() -> Iterator[str]:
        nonlocal physical
        with open(path, "rb") as stream:
            for line, length in iter_lines(stream, 0, None):
                physical += 1
                if line is None:
                    result.lines += 1
                    result.add_problem(physical, "", oversized_message(length), max_problems)
                    yield "\n"
                    continue
                if physical == 1 and line.startswith(BOM):
                    line = line[3:]
                try:
                    yield line.decode("utf-8") + "\n"
                except UnicodeDecodeError as error:
                    result.lines += 1
                    result.add_problem(physical, "", utf8_message(line, error), max_problems)
                    yield "\n"

    reader = csv.reader(text_lines())
    seen_header = False
    previous_end = 0
    try:
        for row in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if not any(field.strip() for field in row):
                continue
            if not seen_header:
                seen_header = True
                continue
            yield start, row
    except csv.Error as error:
        result.lines += 1
        result.add_problem(previous_end + 1, "", f"not a valid CSV row: {error}", max_problems)
    result.physical_lines = physical


def signup_date_problem(value: str) -> str | None:
    """Why ``value`` is not a signup date the API takes (runner/dates.py reads it), or None."""
    text = value.strip()
    if not text:
        return "empty; write the date as YYYY-MM-DD"
    if is_epoch(text):
        return (
            f"{preview(text)} looks like a UNIX timestamp, which the API refuses; "
            "write the date as YYYY-MM-DD"
        )
    if parse_date(text, allow_epoch=False) is not None:
        return None
    return f"{preview(text)} is not a date; write it as YYYY-MM-DD"
