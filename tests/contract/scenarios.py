"""The contract suite's scenarios: one payload per row of the error table, as data that the
tests send to the sandbox (in CI) or to a real account (its read-only subset)."""

from __future__ import annotations

from dataclasses import dataclass

from runner.sailthru import contract
from runner.sailthru.contract import ErrorRow

SMALL_UPLOAD_LIMIT = 1024  # the sandbox's upload limit in these tests; the API's is 1 GB


@dataclass(frozen=True)
class Case:
    """A payload that the API answers with ``row``."""

    row: ErrorRow
    payload: dict[str, object]
    # The file uploaded as the ``file`` part (bytes), or None.
    upload: bytes | None = None
    # What ``validate`` says of the payload written as a manifest: "refuses" (a problem
    # naming the row), "cannot-know" (only the account knows: no problem), or
    # "cannot-write" (no manifest can hold this payload).
    validate: str = "refuses"
    # The row's placeholders, as the API fills them.
    fields: tuple[tuple[str, object], ...] = ()
    # Sent by hand, not by the official client, which cannot produce this request:
    # "no-boundary" (a multipart body whose header has no boundary), "no-file-part"
    # (``file`` named in the payload, no file part sent) or "bad-json" (``json`` is not JSON).
    raw: str | None = None

    @property
    def read_only(self) -> bool:
        """Safe on a real account even if it disagreed and took the job: an export creates
        nothing, a body that is not JSON cannot become a job, and a purchase_import without
        a file part has nothing to import. An import may create its list: never sent there."""
        job = str(self.payload.get("job", ""))
        return (
            job.startswith("export_")
            or self.raw == "bad-json"
            or (job == "purchase_import" and self.upload is None)
        )


CASES = {
    "export-missing-list": Case(contract.MISSING_LIST, {"job": "export_list_data"}),
    "import-missing-list": Case(
        contract.MISSING_LIST, {"job": "import", "emails": "ada@example.com"}
    ),
    "list-not-found": Case(
        contract.LIST_NOT_FOUND,
        {"job": "export_list_data", "list": "sailjobs contract: no such list"},
        validate="cannot-know",
    ),
    "missing-dates": Case(
        contract.MISSING_DATES, {"job": "export_purchase_log", "start_date": 20160101}
    ),
    "bad-date-format": Case(
        contract.BAD_DATE_FORMAT,
        {"job": "export_purchase_log", "start_date": "2016-01-01", "end_date": 20160131},
    ),
    "start-after-end": Case(
        contract.START_AFTER_END,
        {"job": "export_purchase_log", "start_date": 20160131, "end_date": 20160101},
    ),
    "range-too-long": Case(
        contract.RANGE_TOO_LONG,
        {"job": "export_purchase_log", "start_date": 20160101, "end_date": 20160301},
        fields=(("day_range", 61),),
    ),
    "empty-list-name": Case(
        contract.INVALID_LIST_NAME, {"job": "import", "list": "", "emails": "ada@example.com"}
    ),
    "blank-list-name": Case(
        contract.INVALID_LIST_NAME, {"job": "import", "list": "   ", "emails": "ada@example.com"}
    ),
    "no-import-source": Case(contract.IMPORT_SOURCE_REQUIRED, {"job": "import", "list": "L"}),
    "invalid-url": Case(
        contract.INVALID_URL, {"job": "import", "list": "L", "url": "ftp://example.com/a.csv"}
    ),
    "no-purchase-file": Case(contract.FILE_REQUIRED, {"job": "purchase_import"}),
    "file-too-large": Case(
        contract.FILE_TOO_LARGE,
        {"job": "import", "list": "L"},
        upload=b"ada@example.com\n" * (SMALL_UPLOAD_LIMIT // 16 + 1),
    ),
    "upload-failed": Case(
        contract.UPLOAD_FAILED, {"job": "import", "list": "L"}, upload=b"", raw="no-boundary"
    ),
    "empty-file": Case(contract.FILE_SIZE_UNKNOWN, {"job": "import", "list": "L"}, upload=b""),
    "file-not-set": Case(
        contract.FILE_NOT_SET,
        {"job": "purchase_import", "file": "purchases.jsonl"},  # named, never sent
        validate="cannot-know",
        raw="no-file-part",
    ),
    "invalid-json": Case(
        contract.INVALID_JSON, {"job": "import"}, raw="bad-json", validate="cannot-write"
    ),
}
