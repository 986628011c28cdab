"""The campaign job types (blast_query, blast_save_list, blast_snapshot): their local rules
quote the API error they prevent, and their attributes say what they produce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.builtin.jobtypes import BUILTIN_JOB_TYPES, BlastQuery, BlastSaveList, BlastSnapshot
from runner.jobtypes import COMMON_OUTPUTS, EXPORT_OUTPUTS, CheckContext
from runner.plugins import job_types
from runner.sailthru.contract import check_payload, first_refusal
from runner.sailthru.contract_blasts import (
    MISSING_BLAST_ID,
    MISSING_TARGET_LIST,
    UNKNOWN_BLAST_ID,
    blast_id_number,
)
from runner.sailthru.contract_profiles import (
    INVALID_UPDATE,
    MISSING_QUERY,
    UPDATE_INVALID_URL,
    UPDATE_SOURCE_REQUIRED,
)
from runner.sailthru.contract_queries import INVALID_QUERY

CTX = CheckContext(manifest_dir=Path("."))
ALL = (BlastQuery(), BlastSaveList(), BlastSnapshot())
GOOD = {"report_email": "crm@example.com", "list": "Clicked"}


def found(job_type, params, severity="error"):
    """(path, message) of the problems of ``severity``; the rules ignore keys of other
    types (the params model refuses those), so GOOD serves all three."""
    return [
        (".".join(map(str, p.path)), p.message)
        for p in job_type.check(params, CTX)
        if p.severity == severity
    ]


def test_the_three_types_are_registered_through_the_hook():
    names = {"blast_query", "blast_save_list", "blast_snapshot"}
    assert names <= {jt.name for jt in BUILTIN_JOB_TYPES}
    assert names <= set(job_types())


def test_only_blast_query_is_an_export_and_blast_save_list_is_not_resubmit_safe():
    assert BlastQuery.produces_export and BlastQuery.outputs == EXPORT_OUTPUTS
    for job_type in (BlastSaveList, BlastSnapshot):
        assert not job_type.produces_export and job_type.outputs == COMMON_OUTPUTS
    # A late duplicate save adds back users removed from the list in between.
    assert (BlastQuery.resubmit_safe, BlastSaveList.resubmit_safe) == (True, False)
    assert BlastSnapshot.resubmit_safe
    assert BlastSaveList.required_params == ("blast_id", "list")
    assert not any(jt.import_slot or jt.destructive or jt.splittable for jt in ALL)


def test_the_readme_table_says_which_types_are_resubmitted():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Job types") :]
    rows = re.findall(r"^\| `(\w+)` \|.*\| (yes|no) \|$", section, flags=re.MULTILINE)
    said = dict(rows)
    installed = job_types()
    assert set(said) == set(installed)
    assert {name: said[name] == "yes" for name in said} == {
        name: job_type.resubmit_safe for name, job_type in installed.items()
    }


@pytest.mark.parametrize("job_type", ALL, ids=lambda jt: jt.name)
@pytest.mark.parametrize("missing", [None, ""])
def test_a_missing_blast_id_is_error_2(job_type, missing):
    params = {**GOOD} if missing is None else {**GOOD, "blast_id": missing}
    assert found(job_type, params) == [
        (
            "blast_id",
            "add `blast_id`, the campaign's id (a number, e.g. 12345678) "
            '(Sailthru documents no error for this; the sandbox answers error 2 "Missing required parameter: blast_id")',
        )
    ]


@pytest.mark.parametrize("job_type", ALL, ids=lambda jt: jt.name)
@pytest.mark.parametrize("value", ["Winter Picks", "12a", "1.0", " 123", "0", 0, -5])
def test_a_blast_id_that_is_not_a_whole_number_is_error_13(job_type, value):
    [(path, message)] = found(job_type, {**GOOD, "blast_id": value})
    assert path == "blast_id"
    assert message.endswith('(the API would answer error 13 "Unknown blast_id")')
    assert repr(value) in message


@pytest.mark.parametrize("value", [24110101, "24110101", "${{ vars.blast_id }}"])
def test_a_number_digits_or_an_expression_pass(value):
    for job_type in ALL:
        assert found(job_type, {**GOOD, "blast_id": value}) == []


def test_blast_id_number_reads_ints_and_digits_only():
    assert blast_id_number(7) == 7 and blast_id_number("0042") == 42
    for value in (True, None, 1.0, "", "٣", "+3", [1]):
        assert blast_id_number(value) is None


@pytest.mark.parametrize("name", [None, "", "   "])
def test_blast_save_list_needs_a_list_error_2(name):
    params = {"blast_id": 1} if name is None else {"blast_id": 1, "list": name}
    assert found(BlastSaveList(), params) == [
        (
            "list",
            "add `list`, the natural list to save the campaign's recipients to (created if "
            'new) (Sailthru documents no error for this; the sandbox answers error 2 "Missing required parameter: list")',
        )
    ]


def test_a_snapshot_without_report_email_is_a_warning_only():
    assert found(BlastSnapshot(), {"blast_id": 1}) == []
    [(path, message)] = found(BlastSnapshot(), {"blast_id": 1}, severity="warning")
    assert path == "report_email" and "add `report_email`" in message
    assert found(BlastSnapshot(), {"blast_id": 1, "report_email": "a@example.com"}, "warning") == []
    # The other two are not read from a report: no such warning.
    assert found(BlastQuery(), {"blast_id": 1}, severity="warning") == []


@pytest.mark.parametrize("job_type", ALL, ids=lambda jt: jt.name)
def test_the_query_is_checked_by_the_query_contract(job_type):
    bad = {**GOOD, "blast_id": 1, "query": {"source_list": ".multiple", "criteria": ["valid"]}}
    [(path, message)] = found(job_type, bad)
    assert path == "query.source_list"
    assert 'error 99 "Invalid query: multiple_source_list is missing"' in message
    good = {**GOOD, "blast_id": 1, "query": {"criteria": ["click_time"], "timerange": ["ever"]}}
    assert found(job_type, good) == []


def test_the_sandbox_answers_the_same_rows():
    """check_payload is what the sandbox refuses by: the first refusal is the API's answer."""
    refusal = first_refusal(check_payload("blast_query", {"job": "blast_query"}, file_given=False))
    assert refusal is not None and refusal.row is MISSING_BLAST_ID
    payload = {"job": "blast_snapshot", "blast_id": "abc"}
    refusal = first_refusal(check_payload("blast_snapshot", payload, file_given=False))
    assert refusal is not None and refusal.row is UNKNOWN_BLAST_ID


def test_only_the_documented_row_is_called_the_apis_answer():
    # Sailthru's docs give none of these for these jobs: the sandbox's assumptions.
    assumed = (
        MISSING_BLAST_ID, MISSING_TARGET_LIST, INVALID_QUERY, UPDATE_SOURCE_REQUIRED,
        UPDATE_INVALID_URL, INVALID_UPDATE, MISSING_QUERY,
    )  # fmt: skip
    assert not any(row.documented for row in assumed)
    assert UNKNOWN_BLAST_ID.documented  # the API responses page's generic error 13
    [(_, message)] = found(BlastQuery(), {"query": {"criteria": "valid"}, "blast_id": 1})
    assert message.endswith(
        '(Sailthru documents no error for this; the sandbox answers error 99 "Invalid query: '
        'criteria is not a list")'
    )
