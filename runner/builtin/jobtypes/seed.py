"""The five job types of Sailthru's job API page (the seed's): three exports, two imports.

Their checks are the API's contract (``runner/sailthru/contract.py``), which the sandbox
answers by too: an error names the row of the API's error table it prevents; a warning marks
a case the API page is silent on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BeforeValidator, Field

from runner.jobtypes import (
    EMAILS_FILE,
    EXPORT_OUTPUTS,
    PURCHASES_FILE,
    SIGNUP_DATES_FILE,
    CheckContext,
    DateRangeSplitter,
    FileCheck,
    JobType,
    ParamProblem,
    StrictParams,
    check_local_file,
    contract_problems,
    finding_problem,
    none_done_warning,
)
from runner.placeholders import is_expression
from runner.sailthru.contract import (
    HASH_ALGOS,
    IMPORT_COUNT_FIELD,
    IMPORT_WARNING_FIELD,
    LIST_DATA_FIELDS,
    RANGE_TOO_LONG,
    check_payload,
    emails_list_message,
)


def _FIELDS_SCHEMA(schema: dict[str, Any]) -> None:
    """Lets an editor complete the documented field names: on the mapping's branch of the
    schema, where Ajv's strict mode (SchemaStore's check) wants ``propertyNames``."""
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "object":
            branch["propertyNames"] = {"examples": sorted(LIST_DATA_FIELDS)}


class ExportListDataParams(StrictParams):
    list: str | None = Field(default=None, description="the name of the list to export")
    # Text, not an enum: the API's handling of other values is undocumented (a warning).
    hash_algo: str | None = Field(
        default=None,
        description="the hash of the Email Hash column: md5 (the default) or sha256",
        json_schema_extra={"examples": [*HASH_ALGOS]},
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
        yield from contract_problems(self.name, params)


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
    splitter = DateRangeSplitter("start_date", "end_date")

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        findings = check_payload(self.name, params, file_given=False, deferred=is_expression)
        for finding in findings:
            if finding.row is RANGE_TOO_LONG:
                if ctx.split:
                    continue  # the executor exports it in parts of at most 31 days
                advice = "; shorten it or set `split: true` on the job to export it in parts"
                finding = replace(finding, detail=finding.detail + advice)
            yield finding_problem(finding)


class ExportScheduledSends(JobType):
    name = "export_scheduled_sends"
    description = "Export a CSV report of every currently scheduled transactional send."
    outputs = EXPORT_OUTPUTS
    resubmit_safe = True
    produces_export = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems(self.name, params)


def _emails_is_one_text(value: Any) -> Any:
    if isinstance(value, list):  # a natural way to write it, which the API does not take
        raise ValueError(emails_list_message(value))
    return value


# ``emails`` as the API takes it (import, update): one comma-separated text, not a list.
EmailsText = Annotated[str | None, BeforeValidator(_emails_is_one_text)]


class ImportParams(StrictParams):
    list: str | None = Field(default=None, description="the list to import into (created if new)")
    emails: EmailsText = Field(default=None, description="comma-separated email addresses")
    url: str | None = Field(default=None, description="an http(s) URL of a CSV to pull")
    file: str | None = Field(
        default=None, description="a local CSV or text file, relative to the manifest"
    )
    signup_dates: bool | Literal[0, 1, "0", "1", "true", "false"] | None = Field(
        default=None,
        description="1 or true: the imported CSV's signup_date column sets signup dates",
    )


# ``signup_dates`` is a flag (job-api.txt: "Pass 1 or true").
SIGNUP_DATES_ON: Final = (True, 1, "1", "true", "True")


class Import(JobType):
    """Not safe to resubmit: a second import of the same addresses sends a second report and
    may count them twice; the executor fails it with advice instead."""

    name = "import"
    description = "Import email addresses (emails, url or file) into a natural list."
    params_model = ImportParams
    file_params = ("file",)
    required_params = ("list",)
    import_slot = True
    address_sources: ClassVar[Mapping[str, str]] = dict.fromkeys(
        ("url", "file"),
        "a file of addresses from your own system (an `email` column, or one per line)",
    )

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems(self.name, params)
        yield from check_local_file(params, "file", ctx)

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        # With signup_dates the same uploaded file is the CSV of signup dates.
        signup_dates = params.get("signup_dates") in SIGNUP_DATES_ON
        return {"file": SIGNUP_DATES_FILE if signup_dates else EMAILS_FILE}

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """An import that completed having added nobody, when its answer says so (the
        sandbox's ``import_count``; Sailthru documents no such field)."""
        text = "the import completed but added no email address to its list"
        return none_done_warning(fields, IMPORT_COUNT_FIELD, text, IMPORT_WARNING_FIELD)


class PurchaseImportParams(StrictParams):
    file: str | None = Field(
        default=None,
        description="a local UTF-8 file of JSON objects, one purchase per line",
    )


class PurchaseImport(JobType):
    """Not safe to resubmit: purchases are keyed by their extid, but a second job sends a
    second report and its lines may carry no extid of their own (purchase_keys)."""

    name = "purchase_import"
    description = "Import historical purchases from a JSON-lines file."
    params_model = PurchaseImportParams
    file_params = ("file",)
    required_params = ("file",)
    import_slot = True
    address_sources: ClassVar[Mapping[str, str]] = {
        "file": "purchase lines from your shop (JSON with `email`, `date` and an extid)"
    }

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems(self.name, params)
        yield from check_local_file(params, "file", ctx)

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        return {"file": PURCHASES_FILE}
