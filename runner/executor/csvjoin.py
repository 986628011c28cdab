"""Join the CSVs of a split export's parts into one file (the dates are cut by
``runner.limits.split_date_range``).

``join_csv_parts`` joins the CSV files the parts produced into one file with one header,
checking that every part has the same header, streaming (constant memory) and writing
atomically (``runner.files.atomic_writer``: a temporary file beside the destination, fsync,
rename, mode 0600, as exports hold personal data). Nothing half-written is ever left at the
destination.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, cast

from runner.files import atomic_writer, count_records

_COPY_BYTES: Final = 1 << 20
_MAX_HEADER_BYTES: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"


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
    so counting the rows (runner/files.py) and copying take one pass."""

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
    if not parts:
        raise CsvJoinError("no parts to join")
    with atomic_writer(Path(dest)) as out:  # 0600: exports hold personal data
        rows, written, digest = _write_joined(parts, out)
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
