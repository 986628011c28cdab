"""The ``query`` parameter: what the contract refuses or warns about (the runner's checks and
the sandbox's answers both read it), and which users the sandbox's reading of a query selects
in the demo data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.placeholders import is_expression
from runner.sailthru.contract_queries import INVALID_QUERY, query_findings
from runner.sailthru.findings import PayloadView
from runner.sandbox.jobs import JobFailed
from runner.sandbox.queries import matching_user_ids
from runner.sandbox.seed import seed_demo
from runner.sandbox.store import Store


def findings(query: Any) -> list[tuple[tuple[str | int, ...], bool, bool]]:
    """(where, refused, futile) of each finding."""
    view = PayloadView({"query": query}, is_expression)
    return [(f.param, f.refused, f.futile) for f in query_findings(view)]


def test_the_documented_examples_are_clean() -> None:
    # "User Queries for Job and List" and the job examples page.
    assert findings({"source_list": "Master List", "criteria": ["match"], "field": ["vip"],
                     "value": [True]}) == []  # fmt: skip
    assert findings({"source_list": ".multiple", "multiple_source_list": ["Main", "Another"],
                     "criteria": ["engagement_min"], "engagement": [5]}) == []  # fmt: skip
    assert findings({"criteria": ["domain"], "value": ["example.com"]}) == []


def test_what_cannot_be_a_query_is_refused_with_the_sandboxs_row() -> None:
    assert findings("engaged users") == [(("query",), True, False)]
    assert findings({"criteria": "match"}) == [(("query", "criteria"), True, False)]
    assert findings({"source_list": ".multiple"}) == [(("query", "source_list"), True, False)]
    empty = {"source_list": ".multiple", "multiple_source_list": []}
    assert findings(empty) == [(("query", "source_list"), True, False)]
    view = PayloadView({"query": {"criteria": "match"}}, is_expression)
    [finding] = query_findings(view)
    assert finding.row is INVALID_QUERY
    assert finding.api_text() == "Invalid query: criteria is not a list"


@pytest.mark.parametrize(
    ("query", "at", "reason"),
    [
        ({"source_list": ".multiple", "multiple_source_list": ["VIP", 7]},
         ("multiple_source_list", 1), "bad multiple_source_list"),
        ({"source_list": ".multiple", "multiple_source_list": [["VIP"]]},
         ("multiple_source_list", 0), "bad multiple_source_list"),
        ({"criteria": ["match"], "field": [["plan"]], "value": ["pro"]}, ("field", 0), "bad field"),
        ({"criteria": ["valid", "match"], "field": [{"a": 1}, "plan"], "value": [None, "pro"]},
         ("field", 0), "bad field"),
        ({"criteria": ["engagement_min"], "engagement": [7]}, ("engagement", 0), "bad engagement"),
        ({"criteria": ["engagement_min"], "engagement": [-1]}, ("engagement", 0), "bad engagement"),
        ({"criteria": ["engagement_max"], "engagement": ["engaged"]},
         ("engagement", 0), "bad engagement"),
        ({"criteria": ["engagement_max"], "engagement": [True]}, ("engagement", 0), "bad engagement"),
        ({"criteria": ["engagement_max"], "engagement": [4.5]}, ("engagement", 0), "bad engagement"),
        ({"criteria": ["engagement_max"], "engagement": ["٣"]}, ("engagement", 0), "bad engagement"),
    ],
)  # fmt: skip
def test_entries_of_the_wrong_type_are_refused(
    query: dict[str, Any], at: tuple[str | int, ...], reason: str
) -> None:
    refused = [f for f in query_findings(PayloadView({"query": query}, is_expression)) if f.refused]
    assert [(f.param, f.api_text()) for f in refused] == [
        (("query", *at), f"Invalid query: {reason}")
    ]


def test_entries_the_sandbox_can_take_are_not_refused() -> None:
    # Null where the criterion reads none; levels as numbers or digits, 0 to 6.
    assert findings({"criteria": ["valid", "match"], "field": [None, "plan"],
                     "value": [None, "pro"]}) == []  # fmt: skip
    both = {"criteria": ["valid", "engagement_min", "engagement_max"],
            "engagement": [None, "0", 6]}  # fmt: skip
    assert findings(both) == []
    assert findings({"criteria": ["match"], "field": ["${{ vars.field }}"], "value": [1]}) == []


def test_a_criterion_without_what_it_reads_selects_nobody_and_is_an_error() -> None:
    assert findings({"criteria": ["valid", "match"], "field": ["plan"]}) == [
        (("query", "criteria", 1), False, True),  # field[1] and value[1] missing
        (("query", "criteria", 1), False, True),
    ]
    assert findings({"criteria": ["engagement_min"]}) == [(("query", "criteria", 0), False, True)]


def test_what_the_docs_are_silent_on_is_a_warning() -> None:
    assert findings({"criteria": ["matches"]}) == [(("query", "criteria", 0), False, False)]
    assert findings({"query_mode": "xor"}) == [(("query", "query_mode"), False, False)]
    assert findings({"source": "Main"}) == [(("query", "source"), False, False)]
    assert findings({"criteria": ["valid"], "value": [1, 2]}) == [
        (("query", "value"), False, False)  # more entries than criteria
    ]


def test_values_known_only_at_run_time_wait() -> None:
    assert findings("${{ vars.query }}") == []
    assert findings({"criteria": "${{ vars.criteria }}"}) == []


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(Path(tmp_path_factory.mktemp("demo")) / "sandbox.sqlite3")
    seed_demo(store)
    yield store
    store.close()


def users(store: Store, query: dict[str, Any] | None, among: list[int] | None = None) -> list[int]:
    with store.connect() as db:
        return matching_user_ids(db, query, among)


def column(store: Store, sql: str, *args: object) -> list[Any]:
    with store.connect() as db:
        return [row[0] for row in db.execute(sql, args)]


def test_a_source_list_selects_its_members(demo: Store) -> None:
    vip = column(demo, "SELECT m.user_id FROM list_members m JOIN lists l ON l.id = m.list_id "
                       "WHERE l.name = 'VIP' ORDER BY m.user_id")  # fmt: skip
    assert users(demo, {"source_list": "VIP"}) == vip
    assert len(vip) == 25
    assert users(demo, None) == column(demo, "SELECT id FROM users ORDER BY id")  # every user
    both = {"source_list": ".multiple", "multiple_source_list": ["VIP", "Engaged"]}
    assert set(users(demo, both)) == set(vip) | set(users(demo, {"source_list": "Engaged"}))


def test_criteria_read_their_slots_and_combine_by_query_mode(demo: Store) -> None:
    pro = {"criteria": ["match"], "field": ["plan"], "value": ["pro"]}
    expected = [
        uid
        for uid, data in zip(
            column(demo, "SELECT id FROM users ORDER BY id"),
            column(demo, "SELECT vars FROM users ORDER BY id"),
            strict=True,
        )
        if json.loads(data).get("plan") == "pro"
    ]
    assert users(demo, pro) == expected and 0 < len(expected) < len(users(demo, None))
    engaged = {"criteria": ["engagement_min"], "engagement": [6]}
    assert users(demo, engaged) == column(
        demo, "SELECT id FROM users WHERE engagement = 'engaged' ORDER BY id"
    )
    both = {**pro, "criteria": ["match", "engagement_min"], "engagement": [None, 6]}
    assert set(users(demo, both)) == set(expected) & set(users(demo, engaged))
    either = {**both, "query_mode": "or"}
    assert set(users(demo, either)) == set(expected) | set(users(demo, engaged))
    assert users(demo, pro, among=expected[:3]) == expected[:3]


def test_what_the_sandbox_cannot_evaluate_fails_the_job_by_name(demo: Store) -> None:
    with pytest.raises(JobFailed, match="does not evaluate the criterion 'open_time'"):
        users(demo, {"criteria": ["open_time"], "timerange": ["since_days"], "value": [30]})
    with pytest.raises(JobFailed, match="List not found: Nope"):
        users(demo, {"source_list": "Nope"})


@pytest.mark.parametrize(
    "query",
    [
        "VIP",
        ["VIP"],
        {"criteria": "match"},
        {"criteria": [None]},
        {"source_list": ["VIP"]},
        {"source_list": ".multiple", "multiple_source_list": [{"name": "VIP"}]},
        {"criteria": ["match"], "field": [["plan"]], "value": ["pro"]},
        {"criteria": ["not"], "field": [{"plan": 1}], "value": ["pro"]},
        {"criteria": ["engagement_min"], "engagement": [7]},
        {"criteria": ["engagement_min"], "engagement": [[5]]},
        {"criteria": ["engagement_min"], "engagement": [None]},
        {"criteria": ["engagement_max"], "engagement": [""]},
    ],
)
def test_the_sandbox_fails_the_job_for_any_bad_value_never_an_internal_error(
    demo: Store, query: Any
) -> None:
    with pytest.raises(JobFailed):
        users(demo, query)
