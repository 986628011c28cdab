"""Profile columns are stored as CSV cells: whatever the text, a CSV reader reads it back."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from runner.sandbox.store import csv_cell


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_cells_joined_by_commas_read_back_as_the_values(values: list[str]) -> None:
    line = ",".join(csv_cell(value) for value in values) + "\r\n"
    (row,) = list(csv.reader(io.StringIO(line, newline="")))
    # A lone empty cell reads back as no cell at all; that is CSV, not a bug of ours.
    assert row == values or (values == [""] and row == [])


def test_plain_text_is_not_quoted() -> None:
    assert csv_cell("New York") == "New York"
    assert csv_cell(42) == "42"
    assert csv_cell(None) == ""
    assert csv_cell('a "b", c') == '"a ""b"", c"'
