"""The job API's contract, defined once: its error table and the payload rules behind it.

Both sides read this module: the runner's local checks (``runner/builtin/jobtypes.py``, so
``sailjobs validate``) and the sandbox (``runner/sandbox/``), so they cannot disagree. The
rows are Sailthru's job API page (docs/reference/job-api.txt), copied verbatim, typos included,
because clients match on them.

A rule returns ``Finding``s. A finding with a ``row`` is a refusal: the API answers that
row, so ``validate`` reports an error naming it and the sandbox answers it. A finding
without a row is advice: the page is silent on the case (two import sources, an unknown
export field, an address the import would skip), so the runner warns instead of refusing
and the sandbox accepts the payload; refusing would block jobs a real account may take. The
one exception is a ``futile`` payload, which no documented error refuses but which can only
do nothing (an import whose ``emails`` hold no address): the runner refuses it, the sandbox
takes it and says so in its answer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final

from runner.emails import is_valid_email
from runner.jsontypes import JSONValue
from runner.limits import MAX_DATE_RANGE_DAYS, MAX_UPLOAD_BYTES, range_days
from runner.sailthru.contract_blasts import RULES as BLAST_RULES
from runner.sailthru.contract_content import RULES as CONTENT_RULES
from runner.sailthru.contract_profiles import RULES as PROFILE_RULES
from runner.sailthru.findings import ErrorRow as ErrorRow
from runner.sailthru.findings import Finding as Finding
from runner.sailthru.findings import PayloadView as PayloadView
from runner.sailthru.findings import Rule as Rule
from runner.sailthru.findings import date_range, email_list_findings, never
from runner.sailthru.findings import is_url as is_url

FILE_JOBS: Final = ("content_update", "purchase_import", "import")

# The job API page's error table, row by row, in the page's order.
MISSING_LIST = ErrorRow(400, 2, "Missing required parameter: list", ("export_list_data", "import"))
LIST_NOT_FOUND = ErrorRow(404, 99, "List not found", ("export_list_data",))
MISSING_DATES = ErrorRow(
    400, 18, "Missing required parameter: start_date,end_date", ("export_purchase_log",)
)
BAD_DATE_FORMAT = ErrorRow(400, 18, "Invalid start_date/end_date fromat", ("export_purchase_log",))
START_AFTER_END = ErrorRow(
    400,
    18,
    "Invalid date range. Start Date canot be later than End Date",
    ("export_purchase_log",),
)
RANGE_TOO_LONG = ErrorRow(
    400,
    18,
    "Invalid date range. Up to 31 days allowed but {day_range} given",
    ("export_purchase_log",),
)
INVALID_LIST_NAME = ErrorRow(200, 99, "Invalid list name:", ("import",))
IMPORT_SOURCE_REQUIRED = ErrorRow(
    400, 99, "One of the following parameters is required: emails, url, or file", ("import",)
)
INVALID_URL = ErrorRow(400, 99, "Invalid URL", ("import",))
FILE_REQUIRED = ErrorRow(400, 99, "File Parameter is required", FILE_JOBS)
FILE_TOO_LARGE = ErrorRow(
    400,
    99,
    "The size of the file exceeds the maximum upload file size Max upload is 1gb",
    FILE_JOBS,
)
UPLOAD_FAILED = ErrorRow(400, 99, "Failed to upload file", FILE_JOBS)
FILE_SIZE_UNKNOWN = ErrorRow(400, 99, "Unable to determine the size of the file", FILE_JOBS)
FILE_NOT_SET = ErrorRow(400, 99, "File not set", FILE_JOBS)
INVALID_JSON = ErrorRow(400, 99, "Invalid JSON provided")  # the page names no job: any

ERROR_TABLE: Final = (
    MISSING_LIST,
    LIST_NOT_FOUND,
    MISSING_DATES,
    BAD_DATE_FORMAT,
    START_AFTER_END,
    RANGE_TOO_LONG,
    INVALID_LIST_NAME,
    IMPORT_SOURCE_REQUIRED,
    INVALID_URL,
    FILE_REQUIRED,
    FILE_TOO_LARGE,
    UPLOAD_FAILED,
    FILE_SIZE_UNKNOWN,
    FILE_NOT_SET,
    INVALID_JSON,
)

# export_list_data's ``fields``, as the page lists them.
LIST_DATA_FIELDS: Final = frozenset(
    {
        "clicks", "domain", "email_message", "email_status", "email_status_time",
        "engagement", "first_purchase_time", "geolocation_city", "geolocation_country",
        "geolocation_state", "geolocation_zip", "largest_purchase_item_price", "last_click",
        "last_open", "last_pageview", "last_purchase_time", "lifetime_message", "lists",
        "list_signup", "opens", "optout_time", "pageviews", "profile_created_date",
        "purchase_count", "purchase_incomplete", "purchase_price", "signup", "top_device",
        "vars",
    }
)  # fmt: skip
HASH_ALGOS: Final = ("md5", "sha256")  # "The default algorithm is MD5"
# Fields of an import's GET answer that the sandbox adds (Sailthru documents none like them):
# how many addresses it imported and, when none, why. The runner warns when it sees them.
IMPORT_COUNT_FIELD: Final = "import_count"
IMPORT_WARNING_FIELD: Final = "import_warning"
IMPORT_SOURCES: Final = ("emails", "url", "file")


def check_payload(
    job: str,
    payload: Mapping[str, JSONValue],
    *,
    file_given: bool,
    deferred: Callable[[object], bool] = never,
) -> list[Finding]:
    """The findings for a POST /job payload (without the file part), in the order the API
    checks: the first refusal is the one it answers.

    ``file_given`` says whether a file part is sent (the runner: a ``file`` path; the
    sandbox: an upload arrived). Job types this module does not describe have no rules here.
    """
    view = PayloadView(payload, deferred)
    rule = _RULES.get(job)
    findings = list(rule(view, file_given)) if rule is not None else []
    return findings + list(_universal(view))  # the job's refusals come first


def universal_findings(
    payload: Mapping[str, JSONValue], deferred: Callable[[object], bool] = never
) -> list[Finding]:
    """The findings of the parameters every job type takes (``report_email``,
    ``postback_url``), for job types this module does not describe (a plugin's)."""
    return list(_universal(PayloadView(payload, deferred)))


def first_refusal(findings: list[Finding]) -> Finding | None:
    return next((finding for finding in findings if finding.refused), None)


def check_upload_size(size: int, max_bytes: int = MAX_UPLOAD_BYTES) -> Finding | None:
    """An uploaded file's size against the page's rows (empty, or over 1 GB)."""
    if size == 0:
        return Finding(
            ("file",), "the file is empty; there is nothing to import", FILE_SIZE_UNKNOWN
        )
    if size > max_bytes:
        return Finding(
            ("file",),
            f"the file is {size / 1024**3:.2f} GB, over 1 GB; split it into smaller files",
            FILE_TOO_LARGE,
        )
    return None


# --- the rules of each job type ----------------------------------------------------------


def _universal(view: PayloadView) -> Iterator[Finding]:
    """``report_email`` and ``postback_url``: the page gives no error for a bad value, so a
    bad one is advice (the report or postback would simply never arrive)."""
    email = view.known("report_email")
    if isinstance(email, str) and not is_valid_email(email):
        yield Finding(
            ("report_email",),
            f"{email!r} is not an email address (write name@example.com); "
            "the job would run but its report could not be delivered",
        )
    url = view.known("postback_url")
    if isinstance(url, str) and not is_url(url):
        yield Finding(
            ("postback_url",),
            f"{url!r} is not an http(s) URL; the job would run but no postback could arrive",
        )


def _export_list_data(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not view.given("list"):
        yield Finding(("list",), "add `list`, the name of the list to export", MISSING_LIST)
    algo = view.known("hash_algo")
    if isinstance(algo, str) and algo not in HASH_ALGOS:
        meant = re.sub(r"[-_ ]", "", algo.lower())  # SHA256, SHA-256, sha_256 → sha256
        if meant in HASH_ALGOS:
            yield Finding(("hash_algo",), f"write {meant!r} as the API page does, not {algo!r}")
        else:
            yield Finding(
                ("hash_algo",),
                f"{algo!r} is not a documented hash_algo (md5, the default, or sha256); "
                "what the API does with it is undocumented",
            )
    fields = view.known("fields")
    if isinstance(fields, dict):
        yield from _list_data_fields(fields, view.deferred)


def _list_data_fields(
    fields: dict[str, JSONValue], deferred: Callable[[object], bool]
) -> Iterator[Finding]:
    def flag_finding(path: tuple[str, ...], flag: JSONValue) -> Iterator[Finding]:
        if flag not in (0, 1) and not deferred(flag):
            yield Finding(path, f"expected 1 (export it) or 0, got {flag!r}")

    for key, value in fields.items():
        if key not in LIST_DATA_FIELDS:
            close = difflib.get_close_matches(key, sorted(LIST_DATA_FIELDS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield Finding(
                ("fields", key),
                f"{key!r} is not a documented field; {hint}the export may leave it out; "
                f"fields: {', '.join(sorted(LIST_DATA_FIELDS - {'vars'}))} "
                "and a `vars` map of custom variables",
            )
        elif key != "vars":
            yield from flag_finding(("fields", key), value)
        elif isinstance(value, dict):
            for var, flag in value.items():
                yield from flag_finding(("fields", "vars", var), flag)
        elif not deferred(value):
            yield Finding(
                ("fields", "vars"),
                "`vars` is a map of custom variable names to 1, e.g. {userId: 1}",
            )


def _export_purchase_log(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not (view.given("start_date") and view.given("end_date")):
        missing = [key for key in ("start_date", "end_date") if not view.given(key)]
        yield Finding(
            (missing[0],),
            f"add {' and '.join(f'`{key}`' for key in missing)} (yyyymmdd, e.g. 20160131)",
            MISSING_DATES,
        )
        return
    findings, dates = date_range(view, BAD_DATE_FORMAT, START_AFTER_END)
    yield from findings
    if dates is None:
        return
    start, end = dates
    if (days := range_days(start, end)) > MAX_DATE_RANGE_DAYS:
        yield Finding(
            ("end_date",),
            f"the range is {days} days, over {MAX_DATE_RANGE_DAYS}",
            RANGE_TOO_LONG,
            {"day_range": days},
        )


def _import(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not view.present("list"):
        yield Finding(("list",), "add `list`, the list to import into", MISSING_LIST)
    name = view.known("list")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        yield Finding(("list",), "the list name is empty; name the list", INVALID_LIST_NAME)
    sources = [key for key in IMPORT_SOURCES if view.given(key) or (key == "file" and file_given)]
    if not sources:
        yield Finding((), "give one of `emails`, `url` or `file`", IMPORT_SOURCE_REQUIRED)
        return
    url = view.known("url")
    if url not in (None, "") and not (isinstance(url, str) and is_url(url)):
        yield Finding(("url",), f"{url!r} is not an http(s) URL", INVALID_URL)
        return
    if len(sources) > 1:
        yield Finding(
            (sources[1],),
            f"give one of `emails`, `url` or `file`, not {' and '.join(sources)}: the page "
            "asks for one and does not say what the API does with several",
        )
    yield from email_list_findings(
        view, "an import", "the import would add nobody", alone=sources == ["emails"]
    )
    signup_dates = view.known("signup_dates")
    if signup_dates in (True, 1, "1", "true") and not ({"url", "file"} & set(sources)):
        yield Finding(
            ("signup_dates",),
            "signup_dates reads the signup_date column of an imported CSV; with `emails` "
            "alone it changes nothing (give a `file` or `url` with email and signup_date)",
        )


def emails_list_message(value: list[object]) -> str:
    """An import's ``emails`` written as a YAML list: the API takes one comma-separated text."""
    shown = ",".join(str(item) for item in value[:3]) + (",…" if len(value) > 3 else "")
    return (
        "`emails` is one text of comma-separated addresses, as the API takes it, not a list: "
        f"write `emails: {shown}` (or join a list with `${{{{ vars.NAME | join(',') }}}}`)"
    )


def _purchase_import(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not (file_given or view.given("file")):
        yield Finding(
            ("file",), "add `file`, a JSON-lines file of purchases, one per line", FILE_REQUIRED
        )


def _content_update(view: PayloadView, file_given: bool) -> Iterator[Finding]:
    if not (file_given or view.given("file")):
        yield Finding(
            ("file",),
            "add `file`, a JSON-lines file of content items, one per line, each with its `id` "
            "(the page's URL) or `url`",
            FILE_REQUIRED,
        )


_RULES: Final[dict[str, Rule]] = {
    "export_list_data": _export_list_data,
    "export_purchase_log": _export_purchase_log,
    "export_scheduled_sends": lambda view, file_given: iter(()),
    "import": _import,
    "purchase_import": _purchase_import,
    "content_update": _content_update,  # the page's file rows; its lines: contract_content.py
    **CONTENT_RULES,
    **PROFILE_RULES,
    **BLAST_RULES,
}
