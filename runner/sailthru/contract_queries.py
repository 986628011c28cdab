"""The ``query`` parameter of the user-query jobs (``update``, ``snapshot``, ``blast_query``,
``blast_save_list``, ``blast_snapshot``): an Audience Builder query written as arrays.

Sailthru's page "User Queries for Job and List" describes it: ``source_list`` (a natural list,
or ``.multiple`` with ``multiple_source_list``), then parallel arrays indexed by criterion:
``criteria[i]`` reads ``field[i]``, ``value[i]``, ``engagement[i]``, ``timerange[i]`` ...
(``{"source_list": "Master List", "criteria": ["match"], "field": ["vip"], "value":
[true]}``), and ``query_mode`` ``and`` or ``or``. The page lists no error for a malformed
query, so most findings here are advice (warnings). Refused (an error, and the sandbox's
answer) is only what cannot be a query at all (not a mapping, arrays that are not arrays,
entries of the wrong type: a list name or a field that is not text, an engagement level
that is not 0-6) or can only select nobody (``.multiple`` without lists). The names of criteria come from
the docs' examples and the official Java client's ``Criteria`` enum, which the docs show
is incomplete (``daily_open``): an unknown name is a warning, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

from runner.sailthru.findings import ErrorRow, Finding, PayloadView

# Sandbox assumption: the docs give no error text for a malformed query; this is the
# sandbox's answer (code 99, "Other error", as the API's generic errors are).
INVALID_QUERY = ErrorRow(400, 99, "Invalid query: {reason}", documented=False)

QUERY_CRITERIA: Final = frozenset(
    {
        "match", "not", "gt", "lt", "min", "max", "valid", "domain", "geo_city", "geo_state",
        "geo_country", "horizon_interest", "click_time", "open_time", "purchase_time",
        "purchase_count_min", "purchase_count_max", "purchase_largest_item_price_min",
        "purchase_largest_item_price_max", "signup_before", "signup_after",
        "status_softbounce", "status_hardbounce", "optout_template", "optout_blast",
        "optout_blast_only", "optout_all", "list_member_not", "engagement_min",
        "engagement_max", "daily_open",
    }
)  # fmt: skip
# Arrays read at the index of their criterion.
PARALLEL_ARRAYS: Final = (
    "field", "value", "engagement", "timerange", "threshold", "geo_frequency", "compare",
    "compare_value",
)  # fmt: skip
QUERY_KEYS: Final = frozenset(
    {"source_list", "multiple_source_list", "criteria", "query_mode", *PARALLEL_ARRAYS}
)
QUERY_MODES: Final = ("and", "or")
MULTIPLE: Final = ".multiple"
# What each criterion reads besides itself (an empty slot selects nobody, or everybody).
NEEDS: Final[dict[str, tuple[str, ...]]] = {
    **{name: ("field", "value") for name in ("match", "not", "gt", "lt", "min", "max")},
    "engagement_min": ("engagement",),
    "engagement_max": ("engagement",),
    **{name: ("value",) for name in ("domain", "geo_city", "geo_state", "geo_country")},
    "list_member_not": ("value",),
}
# Engagement levels as the query numbers them (the Java client's EngagementLevel).
ENGAGEMENT_LEVELS: Final = {
    "optout": 0, "hardbounce": 0, "dormant": 1, "disengaged": 2, "new": 3, "passive": 4,
    "active": 5, "engaged": 6,
}  # fmt: skip
MAX_ENGAGEMENT: Final = max(ENGAGEMENT_LEVELS.values())


def query_findings(view: PayloadView, key: str = "query") -> Iterator[Finding]:
    """The findings of ``payload[key]``, a query, when it is given and known now."""
    query = view.known(key)
    if query is None:
        return
    if not isinstance(query, Mapping):
        yield _refused(
            (key,), f"`{key}` is a mapping (source_list, criteria, ...)", "not a mapping"
        )
        return
    deferred = view.deferred
    for name in query:
        if name not in QUERY_KEYS:
            yield Finding(
                (key, name),
                f"{name!r} is not a key of Sailthru's documented query; keys: "
                f"{', '.join(sorted(QUERY_KEYS))}",
            )
    arrays: dict[str, list[object]] = {}
    for name in ("criteria", "multiple_source_list", *PARALLEL_ARRAYS):
        value = query.get(name)
        if value is None or deferred(value):
            continue
        if not isinstance(value, list):
            yield _refused(
                (key, name), f"`{name}` is a list (write [{value!r}])", f"{name} is not a list"
            )
            continue
        arrays[name] = value
    yield from _source(query, arrays, key, deferred)
    yield from _entries(arrays, key, deferred)
    mode = query.get("query_mode")
    if mode is not None and not deferred(mode) and mode not in QUERY_MODES:
        yield Finding((key, "query_mode"), f"query_mode is 'and' or 'or', not {mode!r}")
    yield from _criteria(arrays, key)


def _refused(param: tuple[str | int, ...], detail: str, reason: str) -> Finding:
    return Finding(param, detail, INVALID_QUERY, {"reason": reason})


def _source(
    query: Mapping[str, object], arrays: dict[str, list[object]], key: str, deferred: object
) -> Iterator[Finding]:
    source = query.get("source_list")
    if source == MULTIPLE and not query.get("multiple_source_list"):  # absent, or empty
        yield _refused(
            (key, "source_list"),
            "source_list '.multiple' reads the lists named in multiple_source_list: add "
            "multiple_source_list: [List A, List B]",
            "multiple_source_list is missing",
        )
    elif source is not None and not isinstance(source, str):
        yield _refused((key, "source_list"), "source_list is the name of a list", "bad source_list")


def _entries(
    arrays: dict[str, list[object]], key: str, deferred: Callable[[object], bool]
) -> Iterator[Finding]:
    """The entries of the arrays whose type is plain: list names and field names are text,
    engagement levels whole numbers from 0 to 6 (or their digits). An empty slot (null) is
    for a criterion that reads none; one that reads it is told so by ``_criteria``."""
    for index, name in enumerate(arrays.get("multiple_source_list", [])):
        if not isinstance(name, str) and not deferred(name):
            yield _refused(
                (key, "multiple_source_list", index),
                f"multiple_source_list names lists: write the list's name as text, not {name!r}",
                "bad multiple_source_list",
            )
    for index, name in enumerate(arrays.get("field", [])):
        if name is not None and not isinstance(name, str) and not deferred(name):
            yield _refused(
                (key, "field", index),
                f"a field is a var's name, as text (or null for a criterion that reads none), "
                f"not {name!r}",
                "bad field",
            )
    for index, level in enumerate(arrays.get("engagement", [])):
        if level not in (None, "") and engagement_level(level) is None and not deferred(level):
            yield _refused(
                (key, "engagement", index),
                f"an engagement level is a whole number from 0 to 6 (6: engaged, 5: active, "
                f"... 0: opted out), or null for a criterion that reads none; not {level!r}",
                "bad engagement",
            )


def engagement_level(value: object) -> int | None:
    """The level 0-6 an ``engagement`` entry names (a whole number or its digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_ENGAGEMENT else None


def _criteria(arrays: dict[str, list[object]], key: str) -> Iterator[Finding]:
    criteria = arrays.get("criteria", [])
    for index, criterion in enumerate(criteria):
        if not isinstance(criterion, str):
            yield _refused((key, "criteria", index), "a criterion is a name", "bad criterion")
            continue
        if criterion not in QUERY_CRITERIA:
            yield Finding(
                (key, "criteria", index),
                f"{criterion!r} is not a criterion Sailthru documents (match, not, valid, "
                "domain, engagement_min, list_member_not, ...); check its spelling",
            )
            continue
        for needed in NEEDS.get(criterion, ()):
            slots = arrays.get(needed, [])
            if index >= len(slots) or slots[index] in (None, ""):
                yield Finding(
                    (key, "criteria", index),
                    f"criterion {criterion!r} reads {needed}[{index}], which is missing: the "
                    f"arrays are read by position, so give {needed} one entry per criterion",
                    futile=True,
                )
    for name in PARALLEL_ARRAYS:
        if len(arrays.get(name, [])) > len(criteria):
            yield Finding(
                (key, name),
                f"{name} has {len(arrays[name])} entries for {len(criteria)} criteria; the "
                "arrays are read by position, one entry per criterion",
            )
