"""Row counting of CSV exports: exact with quoted line breaks, in any chunking."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.files import count_data_rows, count_records, csv_stats

FIELD = st.text(alphabet=["a", "é", ",", '"', "\n", "\r", " ", ";"], max_size=8)
ROWS = st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=12)


def reader_records(data: bytes) -> int:
    """The reference: Python's csv module, blank lines left out."""
    text = data.decode("utf-8")
    return sum(1 for row in csv.reader(io.StringIO(text, newline="")) if row)


@settings(max_examples=300, deadline=None)
@given(
    rows=ROWS,
    terminator=st.sampled_from(["\n", "\r\n"]),
    chunk_size=st.integers(min_value=1, max_value=9),
    trailing=st.booleans(),
)
def test_counts_like_the_csv_module_in_any_chunking(rows, terminator, chunk_size, trailing):
    if terminator == "\n":
        # csv.writer then leaves a lone "\r" unquoted: an ambiguous file no exporter writes.
        rows = [[field.replace("\r", "") for field in row] for row in rows]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=terminator).writerows(rows)
    text = out.getvalue()
    if not trailing and text.endswith(terminator):
        text = text[: -len(terminator)]
    data = text.encode("utf-8")
    stats = count_records(io.BytesIO(data), chunk_size=chunk_size)
    assert stats.records == reader_records(data)
    assert stats.bytes == len(data)


def test_quoted_newlines_are_not_record_breaks(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(
        b"Profile Id,Address,Note\r\n"
        b'1,"12 Main St\r\nSpringfield","said ""hi""\nthen left"\r\n'
        b'2,plain,""\r\n'
    )
    assert path.read_bytes().count(b"\n") == 5  # what `wc -l` would say
    assert count_data_rows(path) == 2


def test_last_record_without_line_break_counts(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"h1,h2\n1,2\n3,4")
    assert count_data_rows(path) == 2


def test_blank_lines_are_not_rows(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"h\r\n\r\na\r\n\nb\n\n\n")
    assert csv_stats(path).records == 3
    assert count_data_rows(path) == 2


def test_crlf_split_across_chunks_counts_once():
    data = b"h\r\n\r\nx\r\ny\r\n"
    for chunk_size in range(1, len(data) + 1):
        assert count_records(io.BytesIO(data), chunk_size=chunk_size).records == 3


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    header = tmp_path / "header.csv"
    header.write_bytes(b"Profile Id,Email Hash\n")
    assert csv_stats(empty).records == 0 and count_data_rows(empty) == 0
    assert csv_stats(header).records == 1 and count_data_rows(header) == 0
