"""The API's error answers: exactly ``{"error": N, "errormsg": "..."}`` with the page's HTTP code.

Messages of the job API's error table (reference/job-api.txt) are copied verbatim, typos
included, because clients match on them.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: ``http_status`` with the body ``{"error": code, "errormsg": message}``."""

    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": self.code, "errormsg": self.message}


# The job API's error table, row by row (HTTP code, error code, message).
MISSING_LIST = (400, 2, "Missing required parameter: list")
LIST_NOT_FOUND = (404, 99, "List not found")
MISSING_DATES = (400, 18, "Missing required parameter: start_date,end_date")
BAD_DATE_FORMAT = (400, 18, "Invalid start_date/end_date fromat")
START_AFTER_END = (400, 18, "Invalid date range. Start Date canot be later than End Date")
RANGE_TOO_LONG = (400, 18, "Invalid date range. Up to 31 days allowed but {day_range} given")
INVALID_LIST_NAME = (200, 99, "Invalid list name:")
IMPORT_SOURCE_REQUIRED = (
    400,
    99,
    "One of the following parameters is required: emails, url, or file",
)
INVALID_URL = (400, 99, "Invalid URL")
FILE_REQUIRED = (400, 99, "File Parameter is required")
FILE_TOO_LARGE = (
    400,
    99,
    "The size of the file exceeds the maximum upload file size Max upload is 1gb",
)
UPLOAD_FAILED = (400, 99, "Failed to upload file")
FILE_SIZE_UNKNOWN = (400, 99, "Unable to determine the size of the file")
FILE_NOT_SET = (400, 99, "File not set")
INVALID_JSON = (400, 99, "Invalid JSON provided")

# Errors of the wire format (reference/sailthru-api.md §2).
UNSUPPORTED_METHOD = (405, 1, "Unsupported HTTP method")
INVALID_API_KEY = (401, 3, "Invalid API key")
BAD_SIGNATURE = (401, 5, "Signature hash does not match")
INVALID_UTF8 = (400, 6, "Invalid UTF-8 input")
INTERNAL_ERROR = (500, 9, "Internal error")
RATE_LIMITED = (429, 43, "Too many {method} requests this minute to /{endpoint} API")
UNKNOWN_ENDPOINT = (404, 99, "Unknown API endpoint: /{endpoint}")
MISSING_JOB = (400, 2, "Missing required parameter: job")
UNKNOWN_JOB_TYPE = (400, 99, "Invalid job type: {job}")
MISSING_JOB_ID = (400, 2, "Missing required parameter: job_id")
JOB_NOT_FOUND = (404, 99, "Job not found: {job_id}")


def api_error(row: tuple[int, int, str], **fields: object) -> ApiError:
    """The ``ApiError`` of one table row, its ``{placeholders}`` filled from ``fields``."""
    http_status, code, message = row
    return ApiError(http_status, code, message.format(**fields) if fields else message)
