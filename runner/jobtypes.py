"""Sailthru job types: what a job's body may contain, what it produces, whether resubmitting is safe.

A job type is registered through the ``sailjobs_job_types`` hook; the five documented in
the job API page (``runner/builtin/jobtypes.py``) use that same path, so a plugin can add
``update``, ``blast_query`` and the rest.
"""

from __future__ import annotations

import difflib
import re
from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from runner.preflight_limits import MAX_UPLOAD_BYTES, is_expression

# Every job's GET answer has these; the executor exposes them as outputs.
COMMON_OUTPUTS = frozenset({"job_id", "name", "status", "start_time", "end_time"})
EXPORT_OUTPUTS = COMMON_OUTPUTS | {"export_url", "filename"}
# A job with ``split: true`` whose range is split also gives its parts (dates and job_id of
# each) and the joined file's rows, bytes and sha256 (runner/splitjobs.py).
SPLIT_OUTPUTS = frozenset({"parts", "rows", "bytes", "sha256"})


class JobParams(BaseModel):
    """Base of every job type's parameter model: the API payload without ``job``.

    Unknown keys are errors. ``report_email`` and ``postback_url`` are universal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_email: str | None = None
    postback_url: str | None = None


@dataclass(frozen=True)
class ParamProblem:
    """A local check that failed: ``path`` is relative to the job (``("start_date",)``)."""

    path: tuple[str | int, ...]
    message: str


@dataclass(frozen=True)
class CheckContext:
    """What local checks may look at besides the parameters."""

    manifest_dir: Path  # file parameters are relative to it
    # The job's runner key ``split: true``: an export_purchase_log over 31 days is split
    # into parts by the executor, so the 31-day rule does not apply.
    split: bool = False


class JobType(ABC):
    """A Sailthru job type. Subclass, set the class attributes, override ``check`` if needed."""

    name: ClassVar[str]  # the API's ``job`` value
    params_model: ClassVar[type[JobParams]] = JobParams
    outputs: ClassVar[frozenset[str]] = COMMON_OUTPUTS
    # Whether a second submission of the same payload is harmless. Exports are (two
    # identical files); imports are not (duplicate rows, duplicate report emails).
    resubmit_safe: ClassVar[bool] = False
    # Parameters that name a local file sent as the multipart ``file`` part.
    file_params: ClassVar[tuple[str, ...]] = ()
    # Whether the job produces an export (export_url), so ``download`` makes sense after it.
    produces_export: ClassVar[bool] = False
    # Parameters the API requires (shown as required in ``sailjobs schema``; ``check`` says
    # which API error a missing one prevents).
    required_params: ClassVar[tuple[str, ...]] = ()
    # One line for ``sailjobs schema`` and ``sailjobs plan``.
    description: ClassVar[str] = ""
    # Whether ``split: true`` may cut its date range into parts (export_purchase_log).
    splittable: ClassVar[bool] = False

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        """Local checks that mirror the API's own errors; values holding ``${{ }}`` are
        skipped here and checked just before submission instead."""
        return iter(())


# --- the five job types of the job API page ------------------------------------------------
# Each check quotes the API error it prevents, in the API's own words (typos included).

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
MAX_DATE_RANGE_DAYS = 31  # "Up to 31 days allowed"
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def api_error(code: int, message: str) -> str:
    """The suffix naming the API error a local check prevents."""
    return f'(the API would answer error {code} "{message}")'


def is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port that is not a number
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value
    except ValueError:  # "http://[" (an unclosed IPv6 address), "http://host:port/"
        return False


def parse_yyyymmdd(value: Any) -> date | None:
    """``20160131`` or ``"20160131"`` → a date; anything else (``2016-01-31``) → None."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def check_universal(params: dict[str, Any]) -> Iterator[ParamProblem]:
    """``report_email`` and ``postback_url``, which every job type accepts."""
    email = params.get("report_email")
    if isinstance(email, str) and not is_expression(email) and not _EMAIL.match(email):
        yield ParamProblem(
            ("report_email",), f"{email!r} is not an email address (write name@example.com)"
        )
    url = params.get("postback_url")
    if isinstance(url, str) and not is_expression(url) and not is_url(url):
        yield ParamProblem(
            ("postback_url",),
            f"{url!r} is not an http(s) URL {api_error(99, 'Invalid URL')}",
        )


def check_local_file(
    params: dict[str, Any], name: str, ctx: CheckContext
) -> Iterator[ParamProblem]:
    """A file parameter: it must exist, be readable and fit the 1 GB upload limit.

    A path given by an expression is checked just before submission instead.
    """
    value = params.get(name)
    if not isinstance(value, str) or is_expression(value):
        return
    path = ctx.manifest_dir / value
    shown = f"{value!r} (relative to {ctx.manifest_dir.as_posix() or '.'})"
    try:
        if not path.exists():
            yield ParamProblem(
                (name,),
                f"file {shown} does not exist {api_error(99, 'Failed to upload file')}",
            )
            return
        if not path.is_file():
            yield ParamProblem(
                (name,), f"{shown} is not a file {api_error(99, 'Failed to upload file')}"
            )
            return
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        yield ParamProblem(
            (name,), f"cannot read {shown}: {reason} {api_error(99, 'Failed to upload file')}"
        )
        return
    if size > MAX_UPLOAD_BYTES:
        message = "The size of the file exceeds the maximum upload file size Max upload is 1gb"
        yield ParamProblem(
            (name,), f"{shown} is {size / 1024**3:.2f} GB, over 1 GB {api_error(99, message)}"
        )


def _missing_list() -> ParamProblem:
    return ParamProblem(
        ("list",),
        "missing required parameter `list` (the name of the list) "
        + api_error(2, "Missing required parameter: list"),
    )


class _StrictParams(JobParams):
    """Values as the API takes them: ``yes`` is not ``true``, ``"1"`` is not ``1``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# Lets an editor complete the documented field names.
_FIELDS_SCHEMA: Any = {"propertyNames": {"enum": sorted(LIST_DATA_FIELDS)}}


class ExportListDataParams(_StrictParams):
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


class ExportPurchaseLogParams(_StrictParams):
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
        elif (days := (end - start).days + 1) > MAX_DATE_RANGE_DAYS and not ctx.split:
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


class ImportParams(_StrictParams):
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
            bad = [e for e in (p.strip() for p in emails.split(",")) if not _EMAIL.match(e)]
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


class PurchaseImportParams(_StrictParams):
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
