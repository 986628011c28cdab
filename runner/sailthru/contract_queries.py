"""The ``query`` parameter of the user-query jobs (``update``, ``snapshot``, ``blast_query``,
``blast_save_list``, ``blast_snapshot``): an Audience Builder query written as arrays.

Sailthru's page "User Queries for Job and List" describes it: ``source_list`` (a natural list,
or ``.multiple`` with ``multiple_source_list``), then parallel arrays indexed by criterion:
``criteria[i]`` reads ``field[i]``, ``value[i]``, ``engagement[i]``, ``timerange[i]`` ...
(``{"source_list": "Master List", "criteria": ["match"], "field": ["vip"], "value":
[true]}``), and ``query_mode`` ``and`` or ``or``. The page lists no error for a malformed
query, so most findings here are advice (warnings). Refused (an error, and the sandbox's
answer) is only what cannot be a query at all (not a mapping, arrays that are not arrays)
or can only select nobody (``.multiple`` without lists). The names of criteria come from
the docs' examples and the official Java client's ``Criteria`` enum, which the docs show
is incomplete (``daily_open``): an unknown name is a warning, not an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from runner.sailthru.findings import ErrorRow, Finding, PayloadView

# Sandbox assumption: the docs give no error text for a malformed query; this is the
# sandbox's answer (code 99, "Other error", as the API's generic errors are).
INVALID_QUERY = ErrorRow(400, 99, "Invalid query: {reason}")

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
