"""``{name}`` placeholders in action settings: checked before the run, filled in by the action."""

from __future__ import annotations

import pytest

from runner.placeholders import check_placeholders, fill_placeholders


def test_known_placeholders_pass_and_unknown_ones_are_named_with_the_known_list():
    assert check_placeholders("{manifest}: {status}", ("manifest", "status"), "title") == (
        "{manifest}: {status}"
    )
    with pytest.raises(ValueError) as caught:
        check_placeholders("{manifest} {when} {bogus}", ("manifest", "job"), "key")
    assert str(caught.value) == "unknown placeholder {bogus} in key; known: {manifest}, {job}"


def test_fill_leaves_escaped_braces_expressions_and_unknown_names_as_written():
    fields = {"manifest": "nightly", "job": "export-main"}
    assert fill_placeholders("{manifest}/{job}/{other}", fields) == "nightly/export-main/{other}"
    assert fill_placeholders("{{manifest}} ${{ env.X }}", fields) == "{{manifest}} ${{ env.X }}"
    assert check_placeholders("{{literal}} ${{ env.X }}", (), "subject") == (
        "{{literal}} ${{ env.X }}"
    )
