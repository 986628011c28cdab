"""Export ranges longer than the API allows: split the dates, then join the parts' CSVs.

``split_date_range`` cuts an inclusive date range into consecutive ranges of at most
``max_days`` days (export_purchase_log takes up to 31). ``join_csv_parts`` joins the CSV files
the parts produced into one file with one header, checking that every part has the same header,
streaming (constant memory) and writing atomically: a temporary file beside the destination,
fsync, rename, mode 0600 (exports hold personal data). Nothing half-written is ever left at
the destination.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO, Final, cast

from runner.csvstats import count_records

MAX_EXPORT_DAYS: Final = 31  # export_purchase_log: "Up to 31 days allowed"
_COPY_BYTES: Final = 1 << 20
_MAX_HEADER_BYTES: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"


def split_date_range(
    start: date, end: date, max_days: int = MAX_EXPORT_DAYS
) -> list[tuple[date, date]]:
    """``(start, end)`` pairs, both ends included, covering ``start..end`` in order.

    >>> split_date_range(date(2024, 1, 1), date(2024, 2, 9))
    [(datetime.date(2024, 1, 1), datetime.date(2024, 1, 31)), (datetime.date(2024, 2, 1), datetime.date(2024, 2, 9))]
    """
    if max_days < 1:
        raise ValueError(f"max_days must be at least 1, got {max_days}")
    if start > end:
        raise ValueError(f"the start date {start:%Y%m%d} is after the end date {end:%Y%m%d}")
    ranges = []
    part_start = start
    while part_start <= end:
        part_end = min(part_start + timedelta(days=max_days - 1), end)
        ranges.append((part_start, part_end))
        part_start = part_end + timedelta(days=1)
    return ranges


@dataclass(frozen=True)
class JoinResult:
    """The joined file: data rows (header not counted), size in bytes, SHA-256 hex digest."""

    path: Path
    rows: int
    bytes: int
    sha256: str


class CsvJoinError(ValueError):
    """The parts cannot be joined (a header differs, a part is missing); nothing was written."""


class _CopyingReader:
    """A read-only stream that copies what is read from ``source`` into ``sink`` and a digest,
    so counting the rows (runner/csvstats.py) and copying take one pass."""

    def __init__(self, source: BinaryIO, sink: BinaryIO, digest: hashlib._Hash) -> None:
        self.source, self.sink, self.digest = source, sink, digest
        self.last_byte = b""

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        if data:
            self.sink.write(data)
            self.digest.update(data)
            self.last_byte = data[-1:]
        return data


def join_csv_parts(parts: list[Path], dest: Path) -> JoinResult:
    """Join CSV files with the same header into ``dest``: the first part's header once, then
    every part's rows in order. Raises CsvJoinError (and leaves ``dest`` untouched) when a part
    is missing or its header differs. Empty parts (no header, no rows) are skipped."""
    from runner.downloads import fsync_directory  # run time only: it loads requests

    if not parts:
        raise CsvJoinError("no parts to join")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 (exports hold personal data); the rename keeps it.
    descriptor, temp_name = tempfile.mkstemp(
        dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"
    )
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as out:
            rows, written, digest = _write_joined(parts, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, dest)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(dest.parent)
    return JoinResult(path=dest, rows=rows, bytes=written, sha256=digest)


def _write_joined(parts: list[Path], out: BinaryIO) -> tuple[int, int, str]:
    digest = hashlib.sha256()
    header: list[str] | None = None
    header_part = ""
    rows = 0
    for number, part in enumerate(parts, start=1):
        try:
            source = open(part, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as error:
            raise CsvJoinError(f"part {number} ({part}) cannot be read: {error.strerror}") from None
        with source:
            raw_header = _read_header_line(source, part, number)
            if not raw_header.strip(b"\r\n" + _BOM):
                continue  # an empty part: nothing to add
            fields = _parse_header(raw_header, part, number)
            if header is None:
                header, header_part = fields, f"part {number} ({part})"
                line = raw_header.removeprefix(_BOM) if number > 1 else raw_header
                if not line.endswith(b"\n"):
                    line += b"\n"
                out.write(line)
                digest.update(line)
            elif fields != header:
                raise CsvJoinError(
                    f"part {number} ({part}) has the header {','.join(fields)!r}, but "
                    f"{header_part} has {','.join(header)!r}; the parts cannot be joined"
                )
            reader = _CopyingReader(source, out, digest)
            rows += count_records(cast(BinaryIO, reader), _COPY_BYTES).records
            if reader.last_byte not in (b"", b"\n"):
                out.write(b"\n")  # the part's last row had no line break
                digest.update(b"\n")
    return rows, out.tell(), digest.hexdigest()


def _read_header_line(source: BinaryIO, part: Path, number: int) -> bytes:
    line = source.readline(_MAX_HEADER_BYTES)
    if len(line) >= _MAX_HEADER_BYTES and not line.endswith(b"\n"):
        raise CsvJoinError(
            f"part {number} ({part}) has no header line (its first line is too long)"
        )
    return line


def _parse_header(raw: bytes, part: Path, number: int) -> list[str]:
    try:
        text = raw.removeprefix(_BOM).decode("utf-8")
    except UnicodeDecodeError:
        raise CsvJoinError(f"part {number} ({part}) has a header that is not UTF-8") from None
    return next(csv.reader([text.rstrip("\r\n")]), [])
