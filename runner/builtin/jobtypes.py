"""The five job types of Sailthru's job API page, registered through ``sailjobs_job_types``.

They use exactly the path a plugin's job type uses: a ``JobType`` subclass from the plugin
surface (``runner.jobtypes``), returned by the hook. Each check quotes the API error it
prevents, in the API's own words (typos included).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal

from pydantic import Field

from runner.emails import is_valid_email
from runner.hookspecs import hookimpl
from runner.jobtypes import (
    EXPORT_OUTPUTS,
    CheckContext,
    JobType,
    ParamProblem,
    StrictParams,
    api_error,
    check_local_file,
    check_universal,
    is_url,
)
from runner.limits import MAX_DATE_RANGE_DAYS, parse_yyyymmdd, range_days
from runner.placeholders import is_expression

LIST_DATA_FIELDS = frozenset(
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


def _missing_list() -> ParamProblem:
    return ParamProblem(
        ("list",),
        "missing required parameter `list` (the name of the list) "
        + api_error(2, "Missing required parameter: list"),
    )


# Lets an editor complete the documented field names.
_FIELDS_SCHEMA: Any = {"propertyNames": {"enum": sorted(LIST_DATA_FIELDS)}}


class ExportListDataParams(StrictParams):
    list: str | None = Field(default=None, description="the name of the list to export")
    hash_algo: Literal["md5", "sha256"] | None = Field(
        default=None, description="the hash of the Email Hash column (default md5)"
    )
    fields: dict[str, Any] | None = Field(
        default=None,
        description="only these columns (1 each), plus a `vars` map of custom variables",
        json_schema_extra=_FIELDS_SCHEMA,
    )


class ExportListData(JobType):
    name = "export_list_data"
    description = "Export all the users of a list, with their data, as CSV."
    params_model = ExportListDataParams
    outputs = EXPORT_OUTPUTS
    resubmit_safe = True
    produces_export = True
    required_params = ("list",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from check_universal(params)
        if params.get("list") in (None, ""):
            yield _missing_list()
        fields = params.get("fields")
        if isinstance(fields, dict):
            yield from self._check_fields(fields)

    def _check_fields(self, fields: dict[str, Any]) -> Iterator[ParamProblem]:
        for key, value in fields.items():
            if key not in LIST_DATA_FIELDS:
                close = difflib.get_close_matches(key, sorted(LIST_DATA_FIELDS), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                yield ParamProblem(
                    ("fields", key),
                    f"unknown field {key!r}; {hint}fields are the documented names "
                    "(see `sailjobs schema`) plus a `vars` map",
                )
            elif key == "vars":
                if not isinstance(value, dict):
                    yield ParamProblem(
                        ("fields", "vars"),
                        "`vars` is a map of custom variable names to 1, e.g. {userId: 1}",
                    )
                    continue
                for var, flag in value.items():
                    if flag not in (0, 1) and not is_expression(flag):
                        yield ParamProblem(
                            ("fields", "vars", var), f"expected 1 (export it) or 0, got {flag!r}"
                        )
            elif value not in (0, 1) and not is_expression(value):
                yield ParamProblem(("fields", key), f"expected 1 (export it) or 0, got {value!r}")


class ExportPurchaseLogParams(StrictParams):
    start_date: int | str | None = Field(default=None, description="yyyymmdd, e.g. 20160101")
    end_date: int | str | None = Field(default=None, description="yyyymmdd, e.g. 20160131")


class ExportPurchaseLog(JobType):
    name = "export_purchase_log"
    description = "Export the purchases between two dates (at most 31 days) as CSV."
    params_model = ExportPurchaseLogParams
    outputs = EXPORT_OUTPUTS
    resubmit_safe = True
    produces_export = True
    required_params = ("start_date", "end_date")
    splittable = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from check_universal(params)
        dates: dict[str, date] = {}
        for key in ("start_date", "end_date"):
            value = params.get(key)
            if value in (None, ""):
                yield ParamProblem(
                    (key,),
                    f"missing required parameter `{key}` (yyyymmdd) "
                    + api_error(18, "Missing required parameter: start_date,end_date"),
                )
            elif is_expression(value):
                continue
            elif (parsed := parse_yyyymmdd(value)) is None:
                yield ParamProblem(
                    (key,),
                    f"{value!r} is not a yyyymmdd date; write e.g. 20160131 "
                    + api_error(18, "Invalid start_date/end_date fromat"),
                )
            else:
                dates[key] = parsed
        if len(dates) < 2:
            return
        start, end = dates["start_date"], dates["end_date"]
        if start > end:
            yield ParamProblem(
                ("start_date",),
                f"start_date {start:%Y%m%d} is after end_date {end:%Y%m%d}; swap them "
                + api_error(18, "Invalid date range. Start Date canot be later than End Date"),
            )
        elif (days := range_days(start, end)) > MAX_DATE_RANGE_DAYS and not ctx.split:
            yield ParamProblem(
                ("end_date",),
                f"the range is {days} days, over {MAX_DATE_RANGE_DAYS}; shorten it or set "
                "`split: true` on the job to export it in parts "
                + api_error(18, f"Invalid date range. Up to 31 days allowed but {days} given"),
            )


class ExportScheduledSends(JobType):
    name = "export_scheduled_sends"
    description = "Export a CSV report of every currently scheduled transactional send."
    outputs = EXPORT_OUTPUTS
    resubmit_safe = True
    produces_export = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from check_universal(params)


class ImportParams(StrictParams):
    list: str | None = Field(default=None, description="the list to import into (created if new)")
    emails: str | None = Field(default=None, description="comma-separated email addresses")
    url: str | None = Field(default=None, description="an http(s) URL of a CSV to pull")
    file: str | None = Field(
        default=None, description="a local CSV or text file, relative to the manifest"
    )
    signup_dates: bool | Literal[0, 1, "0", "1", "true", "false"] | None = Field(
        default=None,
        description="1 or true: the uploaded CSV's signup_date column sets signup dates",
    )


class Import(JobType):
    name = "import"
    description = "Import email addresses (emails, url or file) into a natural list."
    params_model = ImportParams
    file_params = ("file",)
    required_params = ("list",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from check_universal(params)
        if params.get("list") in (None, ""):
            yield _missing_list()
        sources = [key for key in ("emails", "url", "file") if params.get(key) not in (None, "")]
        one_of = "One of the following parameters is required: emails, url, or file"
        if not sources:
            yield ParamProblem(
                ("list",) if "list" in params else (),
                f"give one of `emails`, `url` or `file` {api_error(99, one_of)}",
            )
        elif len(sources) > 1:
            yield ParamProblem(
                (sources[1],),
                f"give exactly one of `emails`, `url` or `file`, not {' and '.join(sources)}",
            )
        url = params.get("url")
        if isinstance(url, str) and url and not is_expression(url) and not is_url(url):
            yield ParamProblem(
                ("url",), f"{url!r} is not an http(s) URL {api_error(99, 'Invalid URL')}"
            )
        emails = params.get("emails")
        if isinstance(emails, str) and emails and not is_expression(emails):
            bad = [e for e in (p.strip() for p in emails.split(",")) if not is_valid_email(e)]
            if bad:
                yield ParamProblem(
                    ("emails",),
                    f"not email addresses: {', '.join(repr(e) for e in bad[:3])}; "
                    "`emails` is a comma-separated list of addresses",
                )
        yield from check_local_file(params, "file", ctx)
        if params.get("signup_dates") in (True, 1, "1", "true") and "file" not in params:
            yield ParamProblem(
                ("signup_dates",),
                "signup_dates reads the signup_date column of the uploaded `file`; "
                "give a `file` (a CSV with email and signup_date columns)",
            )


class PurchaseImportParams(StrictParams):
    file: str | None = Field(
        default=None,
        description="a local UTF-8 file of JSON objects, one purchase per line",
    )


class PurchaseImport(JobType):
    name = "purchase_import"
    description = "Import historical purchases from a JSON-lines file."
    params_model = PurchaseImportParams
    file_params = ("file",)
    required_params = ("file",)

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from check_universal(params)
        if params.get("file") in (None, ""):
            yield ParamProblem(
                ("file",),
                "missing required parameter `file` (a JSON-lines file of purchases) "
                + api_error(99, "File Parameter is required"),
            )
        yield from check_local_file(params, "file", ctx)


BUILTIN_JOB_TYPES: tuple[type[JobType], ...] = (
    ExportListData,
    ExportPurchaseLog,
    ExportScheduledSends,
    Import,
    PurchaseImport,
)


@hookimpl
def sailjobs_job_types() -> list[JobType]:
    return [job_type() for job_type in BUILTIN_JOB_TYPES]
