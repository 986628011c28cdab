"""The scanning engine of pre-flight checks: lines read in blocks, byte ranges on both cores.

A line-oriented file (purchase JSON lines, a plain list of emails) is cut into byte ranges that
start right after a newline; each range is checked in a worker process, and the parent adds
the results up in file order, so line numbers come out absolute and the first problems are
the first in the file. Memory stays constant: a worker holds one block and one line (capped at
``MAX_LINE_BYTES``), the parent holds one result per range in flight plus the duplicate
counter, which spills its 8-byte hashes to disk past a threshold.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

from runner.emails import is_valid_email
from runner.preflight.purchase import check_purchase_batch

# One read; small, so that the check and its two workers stay within 64 MiB together.
BLOCK_BYTES: Final = 1 << 18
RANGE_BYTES: Final = 16 << 20  # one unit of work for a worker process
PARALLEL_MIN_BYTES: Final = 32 << 20  # below this, starting processes costs more than it saves
MAX_LINE_BYTES: Final = 1 << 20  # a purchase is a few KB; a longer line is a broken file
BOM: Final = b"\xef\xbb\xbf"
_HASH_MASK: Final = (1 << 64) - 1


@dataclass(frozen=True, order=True)
class FileProblem:
    """A problem in a checked file: ``line`` is 1-based, 0 for the file as a whole."""

    line: int
    path: str = ""
    message: str = field(default="", compare=False)

    def render(self) -> str:
        where = f"line {self.line:,}: " if self.line else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


MAX_WARNING_KINDS: Final = 20  # distinct warnings kept per file; the rest are counted together
_INDEX: Final = re.compile(r"\[\d+\]")


@dataclass
class FileWarning:
    """One kind of warning in a checked file (the same message at the same field, list
    indexes aside): where it first shows, and on how many lines. ``example`` is the value of
    its first line (a skipped address), shown after the message but not part of the kind, so
    that a thousand different bad addresses still make one warning."""

    line: int
    path: str
    message: str
    lines: int = 1
    last_line: int = 0  # so that two items of one line count that line once
    example: str = ""

    def render(self, file_name: str = "") -> str:
        """``data.jsonl:3: items[0].colour: …; 41 more lines with the same warning``."""
        message = f"{self.message}: {self.example}" if self.example else self.message
        if file_name:
            where = f"{file_name}:{self.line}: " if self.line else f"{file_name}: "
            text = f"{where}{self.path}: {message}" if self.path else where + message
        else:
            text = FileProblem(self.line, self.path, message).render()
        more = self.lines - 1
        if more:
            text += f"; {more:,} more line{'s' * (more != 1)} with the same warning"
        return text


def warning_kind(path: str, message: str) -> tuple[str, str]:
    """What makes two warnings the same: ``items[0].colour`` and ``items[3].colour`` are."""
    return _INDEX.sub("[]", path), message


@dataclass
class ScanResult:
    """What one range (or a whole file) yielded; line numbers relative to its first line."""

    lines: int = 0  # records checked (a skipped blank line is not one)
    skipped: int = 0  # of them, lines the import skips (no address): warned about, not refused
    physical_lines: int = 0  # for shifting the line numbers of the ranges after this one
    invalid: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    keys: array = field(default_factory=lambda: array("Q"))  # hashes for duplicate counting
    # Bounded: one entry per kind of warning (MAX_WARNING_KINDS at most), each with a count.
    warnings: dict[tuple[str, str], FileWarning] = field(default_factory=dict)

    def add_problem(self, line: int, path: str, message: str, max_problems: int) -> None:
        self.invalid += 1
        if len(self.problems) < max_problems:
            self.problems.append(FileProblem(line, path, message))

    def add_warning(self, line: int, path: str, message: str, example: str = "") -> None:
        self.count_warning(FileWarning(line, path, message, 1, line, example))

    def skip_line(self, line: int, path: str, message: str, value: str = "") -> None:
        """A line the import would skip (as the sandbox's import does): a warning, counted,
        with ``value`` as its example the first time."""
        self.skipped += 1
        tally = self.warnings.get((path, message))  # the kind, for a path without indexes
        if tally is not None:  # seen before: only counted (a file may hold millions)
            tally.lines += 1
            tally.last_line = line
            return
        self.add_warning(line, path, message, preview(value) if value else "")

    def count_warning(self, warning: FileWarning) -> None:
        """Add a warning, or the tally of one from a later range of the file (lines shifted)."""
        kind = warning_kind(warning.path, warning.message)
        if kind not in self.warnings and len(self.warnings) >= MAX_WARNING_KINDS:
            kind = _OTHER_KINDS  # one catch-all, so that memory stays bounded
            self.warnings.setdefault(kind, FileWarning(warning.line, "", _OTHER_MESSAGE, 0))
        tally = self.warnings.get(kind)
        if tally is None:
            self.warnings[kind] = tally = FileWarning(
                warning.line, warning.path, warning.message, 0, example=warning.example
            )
        if tally.last_line == warning.last_line:
            return  # the same line again (another item of it)
        tally.lines += warning.lines
        tally.last_line = warning.last_line


_OTHER_KINDS: Final = ("", "")
_OTHER_MESSAGE: Final = f"warnings of other kinds (only the first {MAX_WARNING_KINDS} are listed)"


def key_hash(value: bytes | str) -> int:
    """A 64-bit key for duplicate counting: Python's own string hash (SipHash), which is fast
    and stable within one process; worker processes all run with PYTHONHASHSEED=0 so that
    their keys agree (runner/preflight/pool.py). A collision among 100 M keys: ~3 in 10,000."""
    return hash(value) & _HASH_MASK


def oversized_message(length: int) -> str:
    return (
        f"line is {length:,} bytes long, over the {MAX_LINE_BYTES:,}-byte limit for one line; "
        "is the whole file on one line?"
    )


def iter_line_batches(stream: BinaryIO, start: int, end: int | None) -> Iterator[list[bytes] | int]:
    """The lines between two byte offsets, without their ``\\n``, one list per block read.

    An ``int`` in place of a list is one line longer than MAX_LINE_BYTES, given by its length
    only (so a 100 MB line costs no memory). A final line without a newline is included.
    Lists, not single lines, because a generator step per line costs as much as checking it.
    """
    stream.seek(start)
    remaining = None if end is None else end - start
    pending: list[bytes] = []  # pieces of the line that the next block continues
    pending_length = 0
    while remaining is None or remaining > 0:
        block = stream.read(BLOCK_BYTES if remaining is None else min(BLOCK_BYTES, remaining))
        if not block:
            break
        if remaining is not None:
            remaining -= len(block)
        lines = block.split(b"\n")
        tail = lines.pop()
        if pending_length and lines:  # the first line completes the pending one
            length = pending_length + len(lines[0])
            if length <= MAX_LINE_BYTES:
                lines[0] = b"".join([*pending, lines[0]])
            else:
                yield length
                del lines[0]
            pending, pending_length = [], 0
        if lines:
            yield lines
        if tail:
            pending_length += len(tail)
            if pending_length <= MAX_LINE_BYTES:
                pending.append(tail)
            else:
                pending = []
    if pending_length:
        yield [b"".join(pending)] if pending_length <= MAX_LINE_BYTES else pending_length


def iter_lines(stream: BinaryIO, start: int, end: int | None) -> Iterator[tuple[bytes | None, int]]:
    """``(line, length)`` per line; ``line`` is None for a line over MAX_LINE_BYTES."""
    for batch in iter_line_batches(stream, start, end):
        if isinstance(batch, int):
            yield None, batch
        else:
            for line in batch:
                yield line, len(line)


# --- line checkers: each scans one range of a line-oriented file --------------------------------


def scan_purchase_range(path: str, start: int, end: int | None, max_problems: int) -> ScanResult:
    """Check purchase lines; keys are the hashes of ``purchase_keys.extid``."""
    result = ScanResult()
    keys = result.keys
    number = 0
    with open(path, "rb") as stream:
        for batch in iter_line_batches(stream, start, end):
            if isinstance(batch, int):
                number += 1
                result.add_problem(number, "", oversized_message(batch), max_problems)
                continue
            if number == 0 and start == 0 and batch[0].startswith(BOM):
                batch[0] = batch[0][3:]
            extids, problems = check_purchase_batch(batch)
            for index, problem in problems:
                if problem.is_error:
                    result.add_problem(
                        number + index + 1, problem.path, problem.message, max_problems
                    )
                else:
                    result.add_warning(number + index + 1, problem.path, problem.message)
            keys.extend([hash(extid) & _HASH_MASK for extid in extids])
            number += len(batch)
    result.lines = result.physical_lines = number
    return result


def scan_email_list_range(path: str, start: int, end: int | None, max_problems: int) -> ScanResult:
    """Check a plain list, one address per line (blank lines are skipped, not counted)."""
    result = ScanResult()
    keys = result.keys
    number = 0
    lines = 0
    with open(path, "rb") as stream:
        for line, length in iter_lines(stream, start, end):
            number += 1
            if line is None:
                lines += 1
                result.add_problem(number, "", oversized_message(length), max_problems)
                continue
            if number == 1 and start == 0 and line.startswith(BOM):
                line = line[3:]
            raw = line.strip()
            if not raw:
                continue
            lines += 1
            try:
                address = raw.decode("utf-8")
            except UnicodeDecodeError as error:  # the sandbox fails the whole job on it
                result.add_problem(number, "", utf8_message(raw, error), max_problems)
                continue
            if is_valid_email(address):
                keys.append(key_hash(raw.lower()))
            else:
                result.skip_line(number, "", skipped_address_message(address), address)
    result.lines = lines
    result.physical_lines = number
    return result


# Not refused: the job API page documents no error for such a line, the contract's ``emails``
# check says "an import skips what is not one", and the sandbox's import skips it.
SKIPPED_ADDRESS: Final = "not a valid email address, skipped by the import"
EMPTY_ADDRESS: Final = "empty, skipped by the import"


def skipped_address_message(address: str) -> str:
    """The warning for a line whose address is not one, with a hint when its shape shows why."""
    if "\n" in address:  # a CSV field over several lines: most likely a quote left open
        return SKIPPED_ADDRESS + ' (the field spans several lines: is a quote (") left unclosed?)'
    if "\r" in address:
        return (
            SKIPPED_ADDRESS + " (it holds a carriage return: lines must end with LF or CRLF, "
            "not CR alone)"
        )
    return SKIPPED_ADDRESS


def utf8_message(raw: bytes, error: UnicodeDecodeError) -> str:
    return (
        f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {error.start + 1}); "
        "save the file as UTF-8"
    )


_VISIBLE: Final = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"})


def preview(text: str, limit: int = 60) -> str:
    """``text`` quoted for a one-line message: control characters shown, long text cut."""
    quoted = '"' + text.translate(_VISIBLE) + '"'
    return quoted if len(quoted) <= limit else quoted[: limit - 2] + '…"'


RangeScanner = Callable[[str, int, "int | None", int], ScanResult]
# By name, so that a worker process is told which one to run (runner/preflight/worker.py).
SCANNERS: Final[dict[str, RangeScanner]] = {
    "purchases": scan_purchase_range,
    "email_list": scan_email_list_range,
}


# --- ranges for the process pool ------------------------------------------------------------


def line_aligned_ranges(path: Path, size: int, range_bytes: int) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` into ranges of about ``range_bytes`` that each start after a newline."""
    bounds = [0]
    with open(path, "rb") as stream:
        nominal = range_bytes
        while nominal < size:
            stream.seek(nominal)
            offset = nominal
            while True:  # find the next newline (a huge line makes this read far)
                block = stream.read(64 << 10)
                if not block:
                    offset = size
                    break
                found = block.find(b"\n")
                if found >= 0:
                    offset += found + 1
                    break
                offset += len(block)
            if offset >= size:
                break
            bounds.append(offset)
            nominal = offset + range_bytes
    bounds.append(size)
    return list(itertools.pairwise(bounds))


class DuplicateCounter:
    """Counts repeated 64-bit keys in constant memory: 256 buckets by low byte, spilled to
    temporary files past ``spill_at`` keys, each bucket deduplicated on its own at the end."""

    BUCKETS: Final = 256

    def __init__(self, spill_at: int = 1 << 19) -> None:
        self.spill_at = spill_at
        self.buckets = [array("Q") for _ in range(self.BUCKETS)]
        self.buffered = 0
        self.spill_dir: tempfile.TemporaryDirectory[str] | None = None

    def add(self, keys: array) -> None:
        buckets = self.buckets
        for key in keys:
            buckets[key & 0xFF].append(key)
        self.buffered += len(keys)
        if self.buffered >= self.spill_at:
            self._spill()

    def add_one(self, key: int) -> None:
        self.buckets[key & 0xFF].append(key)
        self.buffered += 1
        if self.buffered >= self.spill_at:
            self._spill()

    def _spill(self) -> None:
        if self.spill_dir is None:
            self.spill_dir = tempfile.TemporaryDirectory(prefix="sailjobs-dupes-")
        for index, bucket in enumerate(self.buckets):
            if bucket:
                with open(Path(self.spill_dir.name) / str(index), "ab") as stream:
                    bucket.tofile(stream)
        self.buckets = [array("Q") for _ in range(self.BUCKETS)]
        self.buffered = 0

    def count(self) -> int:
        """How many keys repeat an earlier one; releases the temporary files."""
        try:
            if self.spill_dir is None:
                return sum(len(bucket) - len(set(bucket)) for bucket in self.buckets)
            self._spill()
            repeated = 0
            for spilled in Path(self.spill_dir.name).iterdir():
                keys = array("Q")
                keys.frombytes(spilled.read_bytes())
                repeated += len(keys) - len(set(keys))
            return repeated
        finally:
            self.close()

    def close(self) -> None:
        if self.spill_dir is not None:
            self.spill_dir.cleanup()
            self.spill_dir = None
        self.buckets = [array("Q") for _ in range(self.BUCKETS)]


_PEEK_BYTES: Final = 64 << 10


def json_lines_shape(path: Path, noun: str) -> str | None:
    """A whole-file mistake worth one clear message instead of a problem on every line: a
    JSON array, or objects pretty-printed over several lines."""
    with open(path, "rb") as stream:
        head = stream.read(_PEEK_BYTES)
    start = head.removeprefix(BOM).lstrip()
    if start.startswith(b"["):
        return (
            "the file is a JSON array; it needs one JSON object per line (JSON Lines): write "
            f"each {noun} on its own line, without [ ] and commas"
        )
    if start.split(b"\n", 1)[0].strip() == b"{":
        return (
            f"the {noun}s span several lines (pretty-printed JSON); write each {noun} as one "
            "JSON object on one line"
        )
    return None
