"""Files written safely and read cheaply: one place for each of these rules.

- ``atomic_writer`` / ``write_atomically``: a temporary file beside the destination, fsync,
  rename, then fsync the folder (``fsync_directory``), so a reader, a crash or a full disk
  never leaves a half-written file at the destination; ``copy_atomically``: a file copied
  that way, hashed on the way;
- ``file_sha256``: the SHA-256 of a file, read in chunks;
- ``count_records`` / ``csv_stats`` / ``count_data_rows``: the records of a CSV file in
  constant memory, correctly when fields hold newlines.

Counting records: a naive ``wc -l`` miscounts exports whose quoted fields contain line breaks
(custom vars, addresses). The counter here follows RFC 4180 quoting: a ``"`` toggles "inside a
quoted field" (an escaped ``""`` toggles twice, so the state is unchanged) and only a line
break outside quotes ends a record. It works on raw bytes in large chunks, so the encoding does
not matter (every CSV encoding we meet is ASCII-compatible) and the cost is a few C-level
``bytes`` operations per chunk (a file without quotes) or one short step per line, never a
Python step per byte or per field.

Line breaks are ``\\n`` or ``\\r\\n`` (what the sandbox, Sailthru and Python's ``csv`` write).
Blank lines are not records (``csv.DictReader`` and spreadsheet tools skip them too).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
_QUOTE = b'"'
_NEWLINE = b"\n"
# Segments between two line breaks that hold no data: an empty line, or the "\r" of "\r\n".
_BLANK_SEGMENTS = (b"", b"\r")


@dataclass(frozen=True)
class CsvStats:
    """What ``csv_stats`` measured: non-blank records (the header included) and bytes."""

    records: int
    bytes: int

    @property
    def data_rows(self) -> int:
        """Records after the header line (0 for an empty file or a header alone)."""
        return max(self.records - 1, 0)


class _RecordCounter:
    """The counting state carried from one chunk to the next."""

    def __init__(self) -> None:
        self.records = 0
        self.in_quotes = False
        # Whether the record being read so far holds any data (decides if a break ends one).
        self.record_has_data = False

    def feed(self, chunk: bytes) -> None:
        if not self.in_quotes and _QUOTE not in chunk:
            self._feed_unquoted(chunk)  # the common case: whole lines, counted in C
        else:
            self._feed_quoted(chunk)

    def _feed_quoted(self, chunk: bytes) -> None:
        """Line by line: a line's quote count says whether the break after it is inside a
        field (one Python step per line, not per field, so fully quoted files stay fast)."""
        lines = chunk.split(_NEWLINE)
        in_quotes, has_data, records = self.in_quotes, self.record_has_data, self.records
        for line in lines[:-1]:
            if line not in _BLANK_SEGMENTS:
                has_data = True
            if line.count(_QUOTE) & 1:
                in_quotes = not in_quotes
            if not in_quotes and has_data:  # the break after this line ends a record
                records += 1
                has_data = False
        last = lines[-1]
        if last not in _BLANK_SEGMENTS:
            has_data = True
        if last.count(_QUOTE) & 1:
            in_quotes = not in_quotes
        self.in_quotes, self.record_has_data, self.records = in_quotes, has_data, records

    def _feed_unquoted(self, piece: bytes) -> None:
        if _NEWLINE not in piece:
            if piece not in _BLANK_SEGMENTS:
                self.record_has_data = True
            return
        segments = piece.split(_NEWLINE)
        first, middle, last = segments[0], segments[1:-1], segments[-1]
        if self.record_has_data or first not in _BLANK_SEGMENTS:
            self.records += 1
        # list.count runs in C: the number of full lines in this piece that were blank.
        blank = middle.count(b"") + middle.count(b"\r")
        self.records += len(middle) - blank
        self.record_has_data = last not in _BLANK_SEGMENTS

    def finish(self) -> int:
        """The total, counting a last record that has no line break after it."""
        return self.records + (1 if self.record_has_data else 0)


def count_records(stream: BinaryIO, chunk_size: int = CHUNK_SIZE) -> CsvStats:
    """Count the non-blank CSV records (header included) of a binary stream."""
    counter = _RecordCounter()
    total_bytes = 0
    while chunk := stream.read(chunk_size):
        total_bytes += len(chunk)
        counter.feed(chunk)
    return CsvStats(records=counter.finish(), bytes=total_bytes)


def csv_stats(path: Path, chunk_size: int = CHUNK_SIZE) -> CsvStats:
    """Records and size of the CSV file at ``path``, read once in ``chunk_size`` pieces."""
    with open(path, "rb") as stream:
        return count_records(stream, chunk_size)


def count_data_rows(path: Path) -> int:
    """Rows of a CSV file with a header line: its non-blank records minus the header."""
    return csv_stats(path).data_rows


def fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (the rename itself is atomic already)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only when the ``with`` block ends without error.

    Written beside ``path`` (same file system, so the rename is atomic), fsynced, given
    ``mode`` (0600 by default: exports hold personal data), renamed over ``path``, and the
    rename made durable. On any error, KeyboardInterrupt included, the temporary file is
    removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            yield temp
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` all at once (``atomic_writer``). 0644 by default: reports
    are read by CI artifact uploaders, which mkstemp's 0600 would surprise."""
    with atomic_writer(path, mode) as out:
        out.write(data)


def copy_atomically(source: Path, dest: Path, mode: int = 0o600) -> tuple[int, str]:
    """Copy ``source`` to ``dest`` with ``atomic_writer`` (0600 by default: exports hold
    personal data); returns the bytes copied and their SHA-256, computed while copying."""
    hasher = hashlib.sha256()
    size = 0
    with open(source, "rb") as stream, atomic_writer(dest, mode) as out:
        while chunk := stream.read(CHUNK_SIZE):
            out.write(chunk)
            hasher.update(chunk)
            size += len(chunk)
    return size, hasher.hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of the file at ``path``."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
