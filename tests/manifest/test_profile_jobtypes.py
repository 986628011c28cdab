"""The profile job types, ``update`` and ``snapshot``: their local rules (the contract the
sandbox answers by), how they are registered and what they declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.builtin.jobtypes import BUILTIN_JOB_TYPES, Snapshot, Update
from runner.jobtypes import COMMON_OUTPUTS, CheckContext
from runner.plugins import job_types
from runner.sailthru.contract import check_payload

SOURCE_ROW = (
    '(Sailthru documents no error for this; the sandbox answers error 99 "You must pass one of the required parameters, but not '
    'more than one: emails, url, file, or query")'
)


def problems(job_type, params, tmp_path=Path("."), severity="error"):
    found = job_type.check(params, CheckContext(manifest_dir=tmp_path))
    return [(".".join(map(str, p.path)), p.message) for p in found if p.severity == severity]


def warnings(job_type, params, tmp_path=Path(".")):
    return problems(job_type, params, tmp_path, severity="warning")


def test_both_are_registered_through_the_hook_with_what_they_declare():
    assert {Update, Snapshot} <= set(BUILTIN_JOB_TYPES)
    installed = job_types()
    update, snapshot = installed["update"], installed["snapshot"]
    assert (update.import_slot, update.resubmit_safe, update.file_params) == (
        True,
        False,
        ("file",),
    )
    assert (snapshot.import_slot, snapshot.resubmit_safe) == (False, True)
    assert snapshot.required_params == ("query",)
    assert not update.produces_export and not snapshot.produces_export
    assert update.outputs == snapshot.outputs == COMMON_OUTPUTS
    assert not update.destructive and not snapshot.destructive


@pytest.mark.parametrize(
    ("params", "at", "named"),
    [
        ({"update": {"vars": {"a": 1}}}, "", "give one of `emails`, `url`, `file` or `query`"),
        (
            {"emails": "a@example.com", "file": "u.jsonl", "update": {"vars": {"a": 1}}},
            "file",
            "not emails and file",
        ),
        (
            {"url": "https://x.example.com/u.jsonl", "query": {"source_list": "Main"}},
            "query",
            "not url and query",
        ),
    ],
)
def test_update_takes_exactly_one_source(params, at, named, tmp_path: Path):
    (tmp_path / "u.jsonl").write_text('{"id": "ada@example.com"}\n')
    [(path, message)] = problems(Update(), params, tmp_path)
    assert path == at
    assert named in message and message.endswith(SOURCE_ROW)


def test_a_query_without_update_can_only_do_nothing():
    for nothing in ({}, {"update": {}}):
        [(path, message)] = problems(Update(), {"query": {"source_list": "Main"}, **nothing})
        assert path == "update" and "add `update` (vars, lists, optout)" in message
    # A file's lines carry their own changes: no `update` is needed.
    assert problems(Update(), {"url": "https://x.example.com/u.jsonl"}) == []


def test_emails_without_update_only_create_profiles_a_warning():
    # "If an email address does not currently exist, a new user profile will be created."
    for nothing in ({}, {"update": {}}):
        params = {"emails": "ada@example.com", **nothing}
        assert problems(Update(), params) == []
        [(path, message)] = warnings(Update(), params)
        assert path == "update"
        assert "without `update` it only creates profiles for addresses that have none" in message


def test_the_update_object_keys_and_values():
    params = {
        "emails": "ada@example.com",
        "update": {
            "vars": {"plan": "pro"},
            "lists": {"Main": 1, "Old": 0, "Bad": "yes"},
            "optout": "sometimes",
            "templates": {"Welcome": 1},
        },
    }
    assert problems(Update(), params) == [
        (
            "update.lists.Bad",
            "expected 1 (add to the list) or 0 (remove from it), got 'yes' "
            "(Sailthru documents no error for this; the sandbox answers error 99 \"Invalid update: bad lists 'Bad'\")",
        ),
        (
            "update.optout",
            "'sometimes' is not an opt-out level; write one of none, basic, blast, all "
            '(Sailthru documents no error for this; the sandbox answers error 99 "Invalid update: bad optout")',
        ),
    ]
    # A key the docs do not show is a warning: the API may take it.
    assert [path for path, _ in warnings(Update(), params)] == ["update.templates"]
    assert problems(Update(), {**params, "update": {"vars": ["a"]}}) == [
        (
            "update.vars",
            "`vars` is a map of variable names to values "
            '(Sailthru documents no error for this; the sandbox answers error 99 "Invalid update: bad vars")',
        )
    ]


def test_emails_are_checked_as_the_imports_are():
    update = {"update": {"vars": {"a": 1}}}
    [(path, message)] = problems(Update(), {"emails": "ada@x.com;bob@x.com", **update})
    assert path == "emails" and "'ada@x.com,bob@x.com'" in message
    assert "so the update would change nobody" in message
    [(path, message)] = warnings(Update(), {"emails": "ada@x.com,not-one", **update})
    assert path == "emails" and "'not-one'" in message
    # One rule for both: the same words, the job's name aside.
    imported = check_payload("import", {"list": "Main", "emails": ",, ,"}, file_given=False)
    updated = check_payload("update", {"emails": ",, ,", **update}, file_given=False)
    assert [f.detail for f in updated] == [
        f.detail.replace("the import would add nobody", "the update would change nobody")
        for f in imported
    ]
    imported = check_payload("import", {"list": "Main", "emails": "a@x.com,zz"}, file_given=False)
    updated = check_payload("update", {"emails": "a@x.com,zz", **update}, file_given=False)
    assert [f.detail for f in updated] == [
        f.detail.replace("an import skips", "an update skips") for f in imported
    ]
    assert "an import skips what is not one" in imported[0].detail


def test_a_bad_url_and_a_missing_file(tmp_path: Path):
    assert problems(Update(), {"url": "ftp://x.example.com/u.jsonl"}) == [
        ("url", "'ftp://x.example.com/u.jsonl' is not an http(s) URL "
         '(Sailthru documents no error for this; the sandbox answers error 99 "Invalid URL")')
    ]  # fmt: skip
    [(path, message)] = problems(Update(), {"file": "missing.jsonl"}, tmp_path)
    assert path == "file" and "does not exist" in message


def test_the_query_is_checked_by_the_query_rules():
    params = {"query": {"source_list": "Main", "criteria": "valid"}, "update": {"vars": {"a": 1}}}
    [(path, message)] = problems(Update(), params)
    assert path == "query.criteria" and "Invalid query" in message


def test_expressions_wait_until_run_time():
    params = {"emails": "${{ vars.people }}", "update": "${{ vars.change }}"}
    assert problems(Update(), params) == []


def test_snapshot_needs_a_query_and_advises_a_report_email():
    assert problems(Snapshot(), {"report_email": "team@example.com"}) == [
        (
            "query",
            "add `query`, the users to take a snapshot of (e.g. source_list: Main Newsletter) "
            '(Sailthru documents no error for this; the sandbox answers error 2 "Missing required parameter: query")',
        )
    ]
    query = {"query": {"source_list": "Main Newsletter"}}
    assert problems(Snapshot(), query) == []
    [(path, message)] = warnings(Snapshot(), query)
    assert path == "report_email" and "do not say what a snapshot returns" in message
    assert warnings(Snapshot(), {**query, "report_email": "team@example.com"}) == []


def test_the_update_completion_warning():
    warning = Update().completion_warning
    assert warning({"update_count": 3}) is None
    assert warning({}) is None
    assert warning({"update_count": 0, "update_warning": "the query selected no user"}) == (
        "the update completed but changed no profile: the query selected no user"
    )
