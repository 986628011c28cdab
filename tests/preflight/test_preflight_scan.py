"""The scanning engine: lines across blocks, byte ranges on worker processes, duplicates."""

from __future__ import annotations

import io
import itertools
import json
import random
from array import array
from pathlib import Path

import pytest

from runner.preflight import pool as preflight_pool
from runner.preflight import scan as preflight_scan
from runner.preflight.checks import check_file
from runner.preflight.scan import (
    DuplicateCounter,
    iter_line_batches,
    iter_lines,
    line_aligned_ranges,
)


def purchase(number: int, extid: str | None = None) -> bytes:
    data = {
        "email": f"user{number}@example.com",
        "date": "2024-05-01",
        "purchase_keys": {"extid": extid or f"order-{number}"},
        "items": [
            {"qty": 1, "id": "SKU1", "title": "Shirt", "url": "http://e.com/1", "price": 1999}
        ],
    }
    return json.dumps(data).encode()


def test_lines_are_whole_across_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight_scan, "BLOCK_BYTES", 4)
    data = b"alpha\nbe\n\ngamma-delta\nend"
    assert [line for line, _ in iter_lines(io.BytesIO(data), 0, None)] == [
        b"alpha",
        b"be",
        b"",
        b"gamma-delta",
        b"end",
    ]
    # A range stops at its end offset, a newline included at its end.
    assert [line for line, _ in iter_lines(io.BytesIO(data), 6, 10)] == [b"be", b""]


def test_an_overlong_line_is_given_by_its_length_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight_scan, "BLOCK_BYTES", 4)
    monkeypatch.setattr(preflight_scan, "MAX_LINE_BYTES", 6)
    data = b"short\n" + b"y" * 20 + b"\nok\n" + b"z" * 9
    batches = list(iter_line_batches(io.BytesIO(data), 0, None))
    lines = [b for batch in batches for b in ([batch] if isinstance(batch, int) else batch)]
    assert lines == [b"short", 20, b"ok", 9]


def test_ranges_start_after_newlines_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    data = b"".join(b"x" * random.Random(n).randint(0, 40) + b"\n" for n in range(500))
    path.write_bytes(data)
    ranges = line_aligned_ranges(path, len(data), 64)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert end == start and data[start - 1 : start] == b"\n"


def test_workers_give_the_same_report_as_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small ranges so that a 1 MB file is cut into many, bad lines falling on their edges.
    monkeypatch.setattr(preflight_pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(preflight_pool, "RANGE_BYTES", 16 << 10)
    rng = random.Random(3)
    lines = []
    for number in range(1, 6001):
        if number % 997 == 0:
            lines.append(b'{"email": "broken')
        elif number % 1999 == 0:
            lines.append(purchase(number, extid="order-1"))  # a repeated extid
        else:
            lines.append(purchase(number) + b" " * rng.randint(0, 30))
    path = tmp_path / "purchases.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")
    single = check_file("purchases", path, workers=1, max_problems=4)
    parallel = check_file("purchases", path, workers=2, max_problems=4)
    assert (single.lines, single.invalid, single.duplicates) == (6000, 6, 3)
    assert [p.line for p in single.problems] == [997, 1994, 2991, 3988]
    assert parallel == single


def test_plain_email_lists_use_workers_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight_pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(preflight_pool, "RANGE_BYTES", 4 << 10)
    lines = [f"person{n}@example.com" for n in range(3000)]
    lines[1234] = "PERSON7@Example.com"  # a duplicate of line 8, by case
    lines[2500] = "nobody-at-example.com"
    for number in (50, 1500, 2900):  # skipped lines in other ranges: one warning, counted
        lines[number] = f"n/a {number}"
    lines.insert(100, "")  # blank: skipped, yet it moves the line numbers
    path = tmp_path / "emails.txt"
    path.write_text("\n".join(lines) + "\n")
    with path.open("ab") as stream:
        stream.write(b"ren\xe9@example.com\n")  # not UTF-8: an error, the sandbox fails on it
    single = check_file("emails", path, workers=1)
    parallel = check_file("emails", path, workers=2)
    assert single.summary() == (
        "1 of 3,001 lines invalid; line 3,002: not valid UTF-8 (byte 0xe9 at column 4); save "
        "the file as UTF-8; 1 duplicate address (compared without case); 4 warnings (first: "
        'line 51: not a valid email address, skipped by the import: "n/a 50"; 3 more lines '
        "with the same warning)"
    )
    assert single.skipped == 4
    assert parallel == single


def test_a_file_removed_during_the_check_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight_pool, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(preflight_pool, "RANGE_BYTES", 1 << 10)
    path = tmp_path / "emails.txt"
    path.write_text("a@example.com\n" * 500)
    cut = preflight_pool.line_aligned_ranges

    def cut_then_remove(*args: object) -> list[tuple[int, int]]:
        ranges = cut(*args)  # type: ignore[arg-type]
        path.unlink()
        return ranges

    monkeypatch.setattr(preflight_pool, "line_aligned_ranges", cut_then_remove)
    report = check_file("emails", path, workers=2)
    assert report.summary() == f"cannot read {path}: No such file or directory"
    assert not report.ok


def test_a_crashing_worker_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preflight_pool, "PARALLEL_MIN_BYTES", 0)
    path = tmp_path / "emails.txt"
    path.write_text("a@example.com\n" * 50)
    # A worker told to run a scanner that does not exist dies with a KeyError.
    from runner.preflight.pool import run_ranges

    with pytest.raises(RuntimeError, match="a pre-flight worker stopped: KeyError: 'nope'"):
        list(run_ranges("nope", path, [(0, 100), (100, 200)], 2, 10))


def test_duplicate_counter_spills_to_disk_and_cleans_up() -> None:
    counter = DuplicateCounter(spill_at=100)
    keys = array("Q", [n * 2654435761 % (1 << 64) for n in range(1000)])
    counter.add(keys)
    counter.add(keys[:250])
    for key in keys[:10]:
        counter.add_one(key)
    assert counter.spill_dir is not None
    spill_dir = Path(counter.spill_dir.name)
    assert counter.count() == 260
    assert not spill_dir.exists()


def test_duplicate_counter_in_memory() -> None:
    counter = DuplicateCounter()
    counter.add(array("Q", [1, 2, 3, 1, 257, 257, 257]))
    assert counter.count() == 3
    assert counter.spill_dir is None
