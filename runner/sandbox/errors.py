"""The API's error answers: exactly ``{"error": N, "errormsg": "..."}`` with the page's HTTP code.

Messages of the job API's error table (reference/job-api.txt) are copied verbatim, typos
included, because clients match on them.
"""

from __future__ import annotations

from collections.abc import Mapping

# The job API's error table is the contract's (runner/sailthru/contract.py), which the
# runner's local checks read too.
from runner.sailthru.contract import ErrorRow, Finding, check_payload, first_refusal


class ApiError(Exception):
    """An error answer: ``http_status`` with the body ``{"error": code, "errormsg": message}``."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": self.code, "errormsg": self.message}


# Errors of the wire format (reference/sailthru-api.md §2) and of the sandbox's own checks.
UNSUPPORTED_METHOD = ErrorRow(405, 1, "Unsupported HTTP method")
INVALID_API_KEY = ErrorRow(401, 3, "Invalid API key")
BAD_SIGNATURE = ErrorRow(401, 5, "Signature hash does not match")
INVALID_UTF8 = ErrorRow(400, 6, "Invalid UTF-8 input")
INTERNAL_ERROR = ErrorRow(500, 9, "Internal error")
RATE_LIMITED = ErrorRow(429, 43, "Too many {method} requests this minute to /{endpoint} API")
UNKNOWN_ENDPOINT = ErrorRow(404, 99, "Unknown API endpoint: /{endpoint}")
MISSING_JOB = ErrorRow(400, 2, "Missing required parameter: job")
UNKNOWN_JOB_TYPE = ErrorRow(400, 99, "Invalid job type: {job}")
MISSING_JOB_ID = ErrorRow(400, 2, "Missing required parameter: job_id")
JOB_NOT_FOUND = ErrorRow(404, 99, "Job not found: {job_id}")


def api_error(row: ErrorRow, **fields: object) -> ApiError:
    """The ``ApiError`` of one table row, its ``{placeholders}`` filled from ``fields``."""
    return ApiError(row.http_status, row.code, row.text(**fields))


def refuse(finding: Finding | None) -> None:
    """Answer the contract's refusal, if there is one."""
    if finding is not None and finding.row is not None:
        raise api_error(finding.row, **finding.fields)


def refuse_by_contract(job: str, payload: Mapping[str, object], upload: object | None) -> None:
    """Answer the refusal the contract's rules for ``job`` give a POST (with its file part,
    if ``upload``), if there is one: what ``sailjobs validate`` reports, answered as the API."""
    refuse(first_refusal(check_payload(job, payload, file_given=upload is not None)))
