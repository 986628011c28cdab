"""Date ranges over 31 days split into parts, and the parts' CSVs joined into one file."""

from __future__ import annotations

import hashlib
import itertools
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.executor.csvjoin import CsvJoinError, JoinResult, join_csv_parts
from runner.limits import split_date_range

HEADER = "Date,Email Hash,Extid,Message ID,Items,Urls,Price,Channel,Unit Prices,Quantities\n"


def test_a_40_day_range_is_two_parts() -> None:
    assert split_date_range(date(2026, 1, 1), date(2026, 2, 9)) == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 9)),
    ]


def test_short_ranges_stay_whole() -> None:
    day = date(2024, 2, 29)
    assert split_date_range(day, day) == [(day, day)]
    assert split_date_range(day, day + timedelta(days=30)) == [(day, day + timedelta(days=30))]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="start date 20260201 is after the end date 20260101"):
        split_date_range(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="max_days must be at least 1"):
        split_date_range(date(2026, 1, 1), date(2026, 1, 2), max_days=0)


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    days=st.integers(min_value=0, max_value=800),
    max_days=st.integers(min_value=1, max_value=62),
)
def test_parts_are_consecutive_short_and_cover_the_range(
    start: date, days: int, max_days: int
) -> None:
    end = start + timedelta(days=days)
    parts = split_date_range(start, end, max_days)
    assert parts[0][0] == start and parts[-1][1] == end
    for first, last in parts:
        assert 1 <= (last - first).days + 1 <= max_days
    for (_, previous_end), (next_start, _) in itertools.pairwise(parts):
        assert next_start == previous_end + timedelta(days=1)
    # As few parts as possible: only the last one may be short.
    assert len(parts) == -(-(days + 1) // max_days)


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_join_keeps_one_header_and_counts_rows(tmp_path: Path) -> None:
    one = write(
        tmp_path / "p1.csv",
        HEADER + '2026-01-02,abc,o1,,"Shirt\nwith a newline",u,1999,online,1999,1\n',
    )
    two = write(
        tmp_path / "p2.csv", HEADER.replace("\n", "\r\n") + "2026-02-01,def,o2,,Hat,u,500,app,500,1"
    )
    empty = write(tmp_path / "p3.csv", "")
    header_only = write(tmp_path / "p4.csv", b"\xef\xbb\xbf" + HEADER.encode())
    dest = tmp_path / "out" / "joined.csv"
    result = join_csv_parts([one, two, empty, header_only], dest)
    data = dest.read_bytes()
    assert (
        data
        == (
            HEADER + '2026-01-02,abc,o1,,"Shirt\nwith a newline",u,1999,online,1999,1\n'
            "2026-02-01,def,o2,,Hat,u,500,app,500,1\n"
        ).encode()
    )
    assert result == JoinResult(
        dest, rows=2, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["joined.csv"]


def test_a_different_header_refuses_the_join_and_leaves_dest_alone(tmp_path: Path) -> None:
    one = write(tmp_path / "p1.csv", HEADER + "a,b,c,d,e,f,1,online,1,1\n")
    two = write(tmp_path / "p2.csv", "Date,Email Hash\nx,y\n")
    dest = write(tmp_path / "joined.csv", "previous run\n")
    with pytest.raises(
        CsvJoinError, match=r"part 2 \(.*p2.csv\) has the header 'Date,Email Hash', but part 1"
    ):
        join_csv_parts([one, two], dest)
    assert dest.read_text() == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.csv", "p1.csv", "p2.csv"]


def test_a_missing_part_refuses_the_join(tmp_path: Path) -> None:
    one = write(tmp_path / "p1.csv", HEADER)
    with pytest.raises(CsvJoinError, match=r"part 2 \(.*gone.csv\) cannot be read"):
        join_csv_parts([one, tmp_path / "gone.csv"], tmp_path / "joined.csv")
    assert not (tmp_path / "joined.csv").exists()
    with pytest.raises(CsvJoinError, match="no parts"):
        join_csv_parts([], tmp_path / "joined.csv")


def test_join_streams_big_parts(tmp_path: Path) -> None:
    row = "2026-01-02,abc,o1,,Shirt,u,1999,online,1999,1\n"
    parts = [write(tmp_path / f"p{n}.csv", HEADER + row * 40_000) for n in range(3)]
    result = join_csv_parts(parts, tmp_path / "joined.csv")
    assert result.rows == 120_000
    assert result.bytes == len(HEADER) + len(row) * 120_000
