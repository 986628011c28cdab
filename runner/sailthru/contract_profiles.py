"""The profile jobs' contract: ``update`` (a bulk update of user profiles) and ``snapshot``
(the analytics of the users a query selects). Both the runner's checks and the sandbox read it.

Sailthru's ``update`` page says: "You must pass one of the required parameters, but not more
than one: emails, url, file, or query", and "If you want to apply the same update to all of
the users specified, you should pass the `update` parameter" (its keys, as the official Java
client writes them: ``vars``, ``lists`` of list name to 1 or 0, ``optout``). Its file is JSON
lines, one user per line, in the user API's words (``id`` and ``key``, ``vars``, ``lists``,
``optout_email``). The page gives no error text for any of it: the rows here are the
sandbox's assumptions (code 99, the API's generic "Other error"; code 2 for a missing
parameter, as the job page's own rows have it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from runner.emails import is_valid_email
from runner.sailthru.contract_queries import query_findings
from runner.sailthru.findings import (
    ErrorRow,
    Finding,
    PayloadView,
    Rule,
    email_list_findings,
    is_url,
)

UPDATE_SOURCES: Final = ("emails", "url", "file", "query")
# Sandbox assumption: the page states the rule verbatim but not the API's answer; the
# sandbox answers the page's sentence.
UPDATE_SOURCE_REQUIRED = ErrorRow(
    400,
    99,
    "You must pass one of the required parameters, but not more than one: emails, url, file, "
    "or query",
    ("update",),
    documented=False,
)
# Sandbox assumption: the import's documented row, for the update's ``url`` too.
UPDATE_INVALID_URL = ErrorRow(400, 99, "Invalid URL", ("update",), documented=False)
# Sandbox assumption: no documented text for an ``update`` that cannot be applied.
INVALID_UPDATE = ErrorRow(400, 99, "Invalid update: {reason}", ("update",), documented=False)
# Sandbox assumption: worded as the job page's other "Missing required parameter" rows.
MISSING_QUERY = ErrorRow(
    400, 2, "Missing required parameter: query", ("snapshot",), documented=False
)

# The user API's ``optout_email`` values (the update's ``optout`` takes the same words).
OPTOUT_VALUES: Final = ("none", "basic", "blast", "all")
# What an ``update`` object and a file line may change.
CHANGE_KEYS: Final = ("vars", "lists", "optout")
# A file line: the user (``id`` with ``key``, default email; or ``email``) and its changes;
# ``optout_email`` is the user API's name for ``optout``.
USER_KEYS: Final = ("id", "key", "email")
LINE_KEYS: Final = (*USER_KEYS, *CHANGE_KEYS, "optout_email")
# The user API's identifier keys a line's ``key`` may name.
ID_KEYS: Final = ("email", "sid", "extid")
# Fields of a completed update's answer that the sandbox adds (Sailthru documents none).
UPDATE_COUNT_FIELD: Final = "update_count"
UPDATE_WARNING_FIELD: Final = "update_warning"


def change_findings(
    value: Mapping[str, object], at: tuple[str | int, ...], allowed: tuple[str, ...]
) -> Iterator[Finding]:
    """What is wrong with the changes of an ``update`` object (``allowed``: CHANGE_KEYS) or
    a file line (LINE_KEYS), at ``at``: advice for a key the docs do not show, ``futile``
    for a change that cannot be applied."""
    for key in value:
        if key not in allowed:
            what = "of an update line" if allowed == LINE_KEYS else "the update docs show"
            yield Finding(
                (*at, key),
                f"{key!r} is not a key {what} ({', '.join(allowed)}); what Sailthru does "
                "with it is undocumented (the sandbox ignores it)",
            )
    variables = value.get("vars")
    if variables is not None and not isinstance(variables, Mapping):
        yield _futile((*at, "vars"), "`vars` is a map of variable names to values", "vars")
    lists = value.get("lists")
    if lists is not None and not isinstance(lists, Mapping):
        yield _futile(
            (*at, "lists"), "`lists` is a map of list names to 1 (add) or 0 (remove)", "lists"
        )
    elif lists is not None:
        for name, flag in lists.items():
            if isinstance(flag, bool) or flag not in (0, 1):
                yield _futile(
                    (*at, "lists", name),
                    f"expected 1 (add to the list) or 0 (remove from it), got {flag!r}",
                    f"lists {name!r}",
                )
    for key in ("optout", "optout_email"):
        optout = value.get(key) if key in allowed else None
        if optout is not None and optout not in OPTOUT_VALUES:
            yield _futile(
                (*at, key),
                f"{optout!r} is not an opt-out level; write one of {', '.join(OPTOUT_VALUES)}",
                key,
            )


def _futile(param: tuple[str | int, ...], detail: str, what: str) -> Finding:
    """A change that cannot be applied; ``what`` names it in the API's refusal."""
    return Finding(param, detail, fields={"reason": f"bad {what}"}, futile=True)


def line_findings(line: Mapping[str, object]) -> Iterator[Finding]:
    """A line of an update file: the user it names and its changes (pre-flight and the
    sandbox read lines with it; a ``futile`` finding makes the line invalid)."""
    user_id, email, key = line.get("id"), line.get("email"), line.get("key", "email")
    if user_id is None and email is None:
        yield Finding(
            (),
            "name the user: give `email`, or `id` (with `key`, email unless said)",
            futile=True,
        )
    elif user_id is not None and email is not None:
        yield Finding(("email",), "give `id` or `email`, not both; `id` is the one used")
    if not isinstance(key, str):
        yield Finding(
            ("key",), f"`key` names the kind of id (email, sid, extid), got {key!r}", futile=True
        )
    elif key not in ID_KEYS:
        yield Finding(("key",), f"{key!r} is not a key this check knows ({', '.join(ID_KEYS)})")
    name, value = ("id", user_id) if user_id is not None else ("email", email)
    by_email = name == "email" or key == "email"
    if value is not None and not isinstance(value, str):
        yield Finding((name,), f"expected a string, got {value!r}", futile=True)
    elif isinstance(value, str) and by_email and not is_valid_email(value):
        yield Finding((name,), f"not a valid email address: {value!r}", futile=True)
    if "optout" in line and "optout_email" in line:
        yield Finding(("optout",), "give `optout_email` or `optout`, not both")
    yield from change_findings(line, (), LINE_KEYS)


def line_user(line: Mapping[str, object]) -> tuple[str, str]:
    """The (key, id) a checked line names: ``("email", "ada@example.com")``."""
    if line.get("id") is not None:
        return str(line.get("key", "email")), str(line["id"])
    return "email", str(line["email"])


def _update(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    sources = [key for key in UPDATE_SOURCES if view.given(key) or (key == "file" and file_given)]
    if len(sources) != 1:
        detail = (
            "give one of `emails`, `url`, `file` or `query`"
            if not sources
            else f"give only one of `emails`, `url`, `file` or `query`, not {' and '.join(sources)}"
        )
        yield Finding((sources[1],) if sources else (), detail, UPDATE_SOURCE_REQUIRED)
        return
    url = view.known("url")
    if url is not None and not (isinstance(url, str) and is_url(url)):
        yield Finding(("url",), f"{url!r} is not an http(s) URL", UPDATE_INVALID_URL)
        return
    update = view.known("update")
    if update is not None and not isinstance(update, Mapping):
        yield Finding(
            ("update",),
            "`update` is a map: vars, lists, optout",
            INVALID_UPDATE,
            {"reason": "not a mapping"},
        )
        return
    if isinstance(update, Mapping):
        for finding in change_findings(update, ("update",), CHANGE_KEYS):
            if finding.futile:  # the API would have to refuse what it cannot apply
                finding = Finding(finding.param, finding.detail, INVALID_UPDATE, finding.fields)
            yield finding
    yield from email_list_findings(view, "an update", "the update would change nobody", alone=True)
    yield from query_findings(view)
    if view.present("update") and update != {}:
        return
    if sources[0] == "query":  # a query selects existing users only: nothing to do
        yield Finding(
            ("update",),
            "with `query` the users get only what `update` says, and it is missing: add "
            "`update` (vars, lists, optout), or the job changes nobody",
            futile=True,
        )
    elif sources[0] == "emails":  # "If an email address does not currently exist, a new
        # user profile will be created": the job does that much
        yield Finding(
            ("update",),
            "without `update` it only creates profiles for addresses that have none; add "
            "`update` (vars, lists, optout) to change the users",
        )


def _snapshot(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not view.given("query"):
        yield Finding(
            ("query",),
            "add `query`, the users to take a snapshot of (e.g. source_list: Main Newsletter)",
            MISSING_QUERY,
        )
        return
    yield from query_findings(view)
    if not view.present("report_email"):
        yield Finding(
            ("report_email",),
            "add `report_email`: Sailthru's docs do not say what a snapshot returns, and its "
            "report email is the one place its analytics are known to go",
        )


RULES: Final[dict[str, Rule]] = {"update": _update, "snapshot": _snapshot}
