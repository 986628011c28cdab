"""The sandbox's reading of a ``query`` (runner/sailthru/contract_queries.py): which users it
selects, for ``update``, ``snapshot`` and the ``blast_*`` jobs.

Sandbox assumption: it evaluates the criteria whose meaning the docs' examples make plain
(``SUPPORTED``): ``match``/``not`` on a var, ``valid``, ``domain``, ``geo_country``/
``geo_state``/``geo_city``, ``engagement_min``/``engagement_max`` and ``list_member_not``,
joined by ``query_mode`` (``and`` unless ``or``). A job whose query uses another criterion
ends in ``error`` naming it, rather than selecting users by a guess. Queries are small and
the sandbox's accounts are too: users are filtered in Python, a list at a time.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from runner.sailthru.contract_queries import (
    ENGAGEMENT_LEVELS,
    MULTIPLE,
    engagement_level,
    query_findings,
)
from runner.sailthru.findings import PayloadView, never
from runner.sandbox.jobs import JobFailed

User = dict[str, Any]
Test = Callable[[User, int], bool]  # (the user, the criterion's index) -> selected


def _cell(text: str) -> str:
    """A stored CSV cell (runner/sandbox/store.py) as its value."""
    return next(csv.reader([text]))[0] if text.startswith('"') else text


def _slot(query: Mapping[str, Any], name: str, index: int) -> Any:
    values = query.get(name) or []
    return values[index] if index < len(values) else None


def _var_matches(query: Mapping[str, Any]) -> Test:
    def test(user: User, index: int) -> bool:
        field, value = _slot(query, "field", index), _slot(query, "value", index)
        return bool(user["vars"].get(field) == value)

    return test


def _engagement(query: Mapping[str, Any], compare: Callable[[int, int], bool]) -> Test:
    def test(user: User, index: int) -> bool:
        bound = engagement_level(_slot(query, "engagement", index))
        if bound is None:  # an empty slot (the contract's futile finding): selects nobody
            raise JobFailed(f"engagement[{index}] is missing: give a level from 0 to 6")
        level = ENGAGEMENT_LEVELS.get(user["engagement"], 3)  # "new" for an unknown word
        return compare(level, bound)

    return test


def _column_is(column: str, query: Mapping[str, Any]) -> Test:
    def test(user: User, index: int) -> bool:
        return str(user[column]).lower() == str(_slot(query, "value", index)).lower()

    return test


def _tests(query: Mapping[str, Any]) -> dict[str, Test]:
    def not_member(user: User, index: int) -> bool:
        return str(_slot(query, "value", index)) not in user["lists"]

    match = _var_matches(query)
    return {
        "match": match,
        "not": lambda user, index: not match(user, index),
        "valid": lambda user, index: user["email_status"] == "valid",
        "domain": _column_is("domain", query),
        "geo_country": _column_is("geolocation_country", query),
        "geo_state": _column_is("geolocation_state", query),
        "geo_city": _column_is("geolocation_city", query),
        "engagement_min": _engagement(query, lambda level, bound: level >= bound),
        "engagement_max": _engagement(query, lambda level, bound: level <= bound),
        "list_member_not": not_member,
    }


SUPPORTED: Final = frozenset(
    {"match", "not", "valid", "domain", "geo_country", "geo_state", "geo_city",
     "engagement_min", "engagement_max", "list_member_not"}
)  # fmt: skip


def _activity_tests(query: Mapping[str, Any], activity: Mapping[str, set[int]]) -> dict[str, Test]:
    """Criteria read from the caller's data (a campaign's openers and clickers) with their
    ``timerange``: ``ever`` (or none given) or ``not_ever``."""

    def did(criterion: str) -> Test:
        def test(user: User, index: int) -> bool:
            timerange = _slot(query, "timerange", index) or "ever"
            if timerange not in ("ever", "not_ever"):
                raise JobFailed(
                    f"the sandbox evaluates {criterion} with timerange ever or not_ever, not "
                    f"{timerange!r}; test this query on Sailthru"
                )
            return (user["id"] in activity[criterion]) == (timerange == "ever")

        return test

    return {criterion: did(criterion) for criterion in activity}


def matching_user_ids(
    db: sqlite3.Connection,
    query: Mapping[str, Any] | None,
    among: Iterable[int] | None = None,
    activity: Mapping[str, set[int]] | None = None,
) -> list[int]:
    """The ids of the users ``query`` selects (every user for None or ``{}``), in id order;
    ``among`` limits them to these ids (a campaign's recipients). ``activity`` evaluates more
    criteria from the caller's data: a criterion's name -> the ids of the users who did it
    (``click_time``: a campaign's clickers). Raises ``JobFailed`` for a source list that does
    not exist, a criterion the sandbox does not evaluate, or a query the contract refuses
    (runner/sailthru/contract_queries.py: not a mapping, entries of the wrong type)."""
    refusal = next(
        (f for f in query_findings(PayloadView({"query": query}, never)) if f.refused), None
    )
    if refusal is not None:  # refused at POST; a caller may still pass one (never a 500)
        raise JobFailed(f"{refusal.api_text()} ({refusal.detail})")
    query = query or {}
    activity = activity or {}
    criteria = list(query.get("criteria") or [])
    unsupported = [name for name in criteria if name not in SUPPORTED and name not in activity]
    if unsupported:
        raise JobFailed(
            f"the sandbox does not evaluate the criterion {unsupported[0]!r} (it evaluates "
            f"{', '.join(sorted(SUPPORTED))}); test this query on Sailthru"
        )
    tests = {**_tests(query), **_activity_tests(query, activity)}
    combine = any if query.get("query_mode") == "or" else all
    wanted = None if among is None else set(among)
    selected = []
    for user in _users(db, _source_lists(db, query)):
        if wanted is not None and user["id"] not in wanted:
            continue
        if not criteria or combine(tests[name](user, i) for i, name in enumerate(criteria)):
            selected.append(user["id"])
    return selected


def _source_lists(db: sqlite3.Connection, query: Mapping[str, Any]) -> list[int] | None:
    """The ids of the lists the query starts from; None: every user of the account."""
    source = query.get("source_list")
    if source in (None, ""):
        return None
    names = list(query.get("multiple_source_list") or []) if source == MULTIPLE else [source]
    ids = []
    for name in names:
        row = db.execute("SELECT id FROM lists WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise JobFailed(f"List not found: {name}")
        ids.append(row[0])
    return ids


def _users(db: sqlite3.Connection, list_ids: list[int] | None) -> Iterable[User]:
    columns = (
        "u.id, u.domain, u.engagement, u.email_status, u.vars, u.lists, u.geolocation_country,"
        " u.geolocation_state, u.geolocation_city"
    )
    if list_ids is None:
        rows = db.execute(f"SELECT {columns} FROM users u ORDER BY u.id")
    else:
        marks = ",".join("?" * len(list_ids))
        rows = db.execute(
            f"SELECT DISTINCT {columns} FROM users u JOIN list_members m ON m.user_id = u.id"
            f" WHERE m.list_id IN ({marks}) ORDER BY u.id",
            list_ids,
        )
    for row in rows:
        yield {
            "id": row[0],
            "domain": _cell(row[1]),
            "engagement": _cell(row[2]),
            "email_status": _cell(row[3]),
            "vars": json.loads(row[4] or "{}"),
            "lists": set(filter(None, row[5].split("\x1f"))),
            "geolocation_country": _cell(row[6]),
            "geolocation_state": _cell(row[7]),
            "geolocation_city": _cell(row[8]),
        }
