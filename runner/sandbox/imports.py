"""The import jobs: ``import`` (emails into a list) and ``purchase_import`` (purchase lines).

Checks at POST time reproduce the job API's error table; problems found while running (a
bad line, an unreachable URL) end the job in ``error`` with a message naming the line. Each
job writes in one transaction: nothing is half-imported.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from runner.dates import parse_date
from runner.emails import is_valid_email, split_emails
from runner.preflight.purchase import (
    PurchaseFormatError,
    extid_of,
    parse_purchase_line,
    purchase_to_dict,
)
from runner.sailthru import contract
from runner.sailthru.contract import (
    IMPORT_COUNT_FIELD,
    IMPORT_WARNING_FIELD,
    check_upload_size,
)
from runner.sandbox.errors import api_error, refuse, refuse_by_contract
from runner.sandbox.jobs import (
    FAILED_STATUSES,
    IMPORT_POOL,
    Accepted,
    JobAborted,
    JobEnv,
    JobFailed,
    JobKind,
    JobRecord,
    Outcome,
)
from runner.sandbox.store import rfc2822, update_purchase_fields, user_row
from runner.sandbox.wire import Upload, remove_quietly

URL_TIMEOUT = 30.0
WRITE_BATCH = 5000  # rows per write transaction
T = TypeVar("T")
TRUE_VALUES = {"1", "true", "yes", "on"}
# Fields of a completed import's answer. Sandbox behaviour: the real answer's fields are not
# documented, nor what an import of a file without addresses does. The sandbox completes it,
# imports nobody and says so here (README, "The sandbox"), so that the runner can warn.
SHOWN_COLUMNS = 6  # of a header without an email column, in the warning


def is_true(value: Any) -> bool:
    return value is True or (
        value not in (None, False) and str(value).strip().lower() in TRUE_VALUES
    )


def check_upload(payload: dict[str, Any], upload: Upload | None, required: bool) -> None:
    """The file rows of the error table, for jobs that take a ``file`` part."""
    if upload is None:
        if payload.get("file") not in (None, ""):
            raise api_error(contract.FILE_NOT_SET)  # named in json, but no part came
        if required:
            raise api_error(contract.FILE_REQUIRED)
        return
    refuse(check_upload_size(upload.size))


class ListImport(JobKind):
    job = "import"
    pool = IMPORT_POOL

    def answer_fields(self, record: JobRecord) -> dict[str, Any]:
        # The seed page's GET example of an import shows "error": false.
        return {"error": record.status in FAILED_STATUSES}

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        check_upload(payload, upload, required=False)
        name = payload["list"]
        return Accepted(f"List Import: {name}", {"list": name})

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        payload = record.payload
        signup_dates = is_true(payload.get("signup_dates"))
        url = payload.get("url")
        fetched = fetch_url(str(url).strip(), env) if url not in (None, "") else None
        try:
            # A first pass finds any bad line before anything is written; the second writes
            # in short transactions, so other jobs and requests are never held up for long.
            for _ in batched(self._entries(record, fetched, signup_dates), WRITE_BATCH):
                env.check_stopping()
            with env.store.transaction() as db:
                list_id = env.store.list_id(db, payload["list"], create=True) or 0
            now = rfc2822(env.store.now())  # a seeded sandbox: its anchor time
            tally = EmailTally()  # of the writing pass, which reads everything once
            entries = self._entries(record, fetched, signup_dates, tally)
            count = 0
            for batch in batched(entries, WRITE_BATCH):
                env.check_stopping()
                users = [user_row(email, signup or now) for email, signup in batch]
                with env.store.transaction() as db:
                    count += env.store.add_users(db, list_id, users, overwrite_signup=signup_dates)
        finally:
            remove_quietly(fetched)
        fields: dict[str, Any] = {IMPORT_COUNT_FIELD: count}
        if count == 0:
            fields[IMPORT_WARNING_FIELD] = nothing_imported(tally)
        return Outcome(fields=fields, rows=count)

    def _entries(
        self,
        record: JobRecord,
        fetched: Path | None,
        signup_dates: bool,
        tally: EmailTally | None = None,
    ) -> Iterator[tuple[str, str | None]]:
        emails = record.payload.get("emails")
        if isinstance(emails, list):
            emails = ",".join(str(email) for email in emails)
        if isinstance(emails, str):
            for email in split_emails(emails):
                if tally is not None:
                    tally.values += 1
                if is_valid_email(email):
                    yield email, None
        for path in (record.upload_path, fetched):
            if path:
                yield from read_email_file(Path(path), signup_dates, tally)


@dataclass
class EmailTally:
    """What an import's sources held besides addresses, to say why it imported nobody."""

    values: int = 0  # non-empty values of ``emails``
    files: int = 0  # files read (the upload, the ``url``'s)
    lines: int = 0  # non-blank lines of its files (a header included)
    header: list[str] | None = None  # a file's first line, when it names no email column


def nothing_imported(tally: EmailTally) -> str:
    """The warning of an import that added nobody to its list."""
    text = "No email addresses imported: "
    if tally.header is not None:
        columns = ", ".join(tally.header[:SHOWN_COLUMNS])
        if len(tally.header) > SHOWN_COLUMNS:
            columns += ", ..."
        text += f'the file has no "email" column (its first line: {columns})'
        if any(column.lower() in ("email hash", "profile id") for column in tally.header):
            text += "; it looks like a Sailthru export, which holds hashes, never addresses"
        return text + '. Import a CSV with an "email" column, or one address per line.'
    if tally.values or tally.lines:
        parts = [f"{tally.values} value(s) of `emails`"] if tally.values else []
        parts += [f"{tally.lines} line(s) of the file"] if tally.lines else []
        return text + f"no valid address among the {' and '.join(parts)}."
    return text + ("the file is empty." if tally.files else "`emails` holds no address.")


def fetch_url(url: str, env: JobEnv) -> Path:
    """Download an import's ``url`` to a file (streamed, capped like an upload), or end the
    job in error."""
    env.upload_dir.mkdir(parents=True, exist_ok=True)
    path = env.upload_dir / f"url-{secrets.token_hex(8)}"
    try:
        with requests.get(url, stream=True, timeout=URL_TIMEOUT) as response:
            if response.status_code != 200:
                raise JobFailed(f"Could not fetch the import URL: HTTP {response.status_code}")
            size = 0
            with open(path, "wb") as sink:
                for chunk in response.iter_content(256 * 1024):
                    env.check_stopping()
                    size += len(chunk)
                    if size > env.max_upload:
                        raise JobFailed(contract.FILE_TOO_LARGE.message)
                    sink.write(chunk)
    except requests.RequestException as error:
        remove_quietly(path)
        raise JobFailed(f"Could not fetch the import URL: {type(error).__name__}") from error
    except (JobFailed, JobAborted):
        remove_quietly(path)
        raise
    return path


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as source:
        for number, raw in enumerate(source, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise JobFailed(f"Line {number}: the file is not UTF-8 text") from error
            yield number, line.lstrip("\ufeff") if number == 1 else line


def read_email_file(
    path: Path, signup_dates: bool, tally: EmailTally | None = None
) -> Iterator[tuple[str, str | None]]:
    """Emails of a file: one per line, or a CSV with an ``email`` column (and ``signup_date``).

    Lines that hold no valid address are skipped; ``tally`` counts the lines and keeps a
    first line that names no email column (an export's header: Profile Id, Email Hash).
    """
    tally = tally if tally is not None else EmailTally()
    tally.files += 1
    lines = _lines(path)
    # Blank lines before the first are skipped, as pre-flight does (runner/preflight/csvfiles.py).
    first = next(((number, line) for number, line in lines if line.strip()), None)
    if first is None:
        return
    header = next(csv.reader([first[1]]), [])
    columns = [column.strip().lower() for column in header]
    if "email" not in columns:
        if signup_dates:
            raise JobFailed(
                'Line 1: signup_dates needs a CSV whose columns are "email" and "signup_date"'
            )
        if not is_valid_email(first[1].strip()) and first[1].strip():
            tally.header = [column.strip() for column in header]
        for _number, line in itertools.chain([first], lines):  # lazily: files reach 1 GB
            email = line.strip()
            tally.lines += bool(email)
            if is_valid_email(email):
                yield email, None
        return
    tally.lines += 1
    email_index = columns.index("email")
    date_index = columns.index("signup_date") if "signup_date" in columns else None
    if signup_dates and date_index is None:
        raise JobFailed('Line 1: signup_dates needs a "signup_date" column')
    for number, line in lines:
        tally.lines += bool(line.strip())
        row = next(csv.reader(io.StringIO(line)), [])
        if len(row) <= email_index:
            continue
        email = row[email_index].strip()
        if not is_valid_email(email):
            continue
        signup = None
        if signup_dates and date_index is not None and len(row) > date_index:
            moment = parse_date(row[date_index], allow_epoch=False)
            if moment is None:
                raise JobFailed(
                    f"Line {number}: signup_date {row[date_index]!r} is not a date"
                    " (use YYYY-MM-DD; UNIX times are not accepted)"
                )
            signup = rfc2822(moment)
        yield email, signup


class PurchaseImport(JobKind):
    job = "purchase_import"
    pool = IMPORT_POOL

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        check_upload(payload, upload, required=True)
        return Accepted("Purchase Import")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        assert record.upload_path is not None
        path = Path(record.upload_path)
        for _ in batched(purchase_rows(path), WRITE_BATCH):  # every line checked first
            env.check_stopping()
        count = 0
        for rows in batched(purchase_rows(path), WRITE_BATCH):
            env.check_stopping()
            with env.store.transaction() as db:
                db.executemany(
                    "INSERT INTO purchases (extid, email, md5, date, date_key, items, urls,"
                    " price, channel, unit_prices, quantities, data)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(extid) DO UPDATE SET email = excluded.email,"
                    " md5 = excluded.md5, date = excluded.date, date_key = excluded.date_key,"
                    " items = excluded.items, urls = excluded.urls, price = excluded.price,"
                    " channel = excluded.channel, unit_prices = excluded.unit_prices,"
                    " quantities = excluded.quantities, data = excluded.data",
                    rows,
                )
                update_purchase_fields(db, sorted({str(row[1]) for row in rows}))
            count += len(rows)
        return Outcome(rows=count)


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items (itertools.batched arrives in Python 3.12)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def purchase_rows(path: Path) -> Iterator[tuple[object, ...]]:
    """Each line validated with THE purchase format (runner/preflight/purchase.py), as a table row."""
    with open(path, "rb") as source:
        for number, line in enumerate(source, start=1):
            if number > 1 and not line.strip():
                continue  # a trailing blank line is tolerated
            try:
                purchase = purchase_to_dict(parse_purchase_line(line))
            except PurchaseFormatError as error:
                raise JobFailed(f"Line {number}: {error.problem.render()}") from error
            moment = parse_date(purchase["date"], allow_epoch=True)
            if moment is None:
                raise JobFailed(f"Line {number}: date: {purchase['date']!r} is not a date")
            yield purchase_row(purchase, moment)


def purchase_row(purchase: dict[str, Any], moment: datetime) -> tuple[object, ...]:
    """A purchase (its JSON form) at ``moment`` as a ``purchases`` row, in INSERT order."""
    items = purchase["items"]
    adjustments = sum(line["price"] for line in purchase.get("adjustments", []))
    email = purchase["email"].strip().lower()
    moment = moment.astimezone(UTC)
    return (
        extid_of(purchase),
        email,
        hashlib.md5(email.encode("utf-8")).hexdigest(),
        rfc2822(moment),
        int(moment.strftime("%Y%m%d")),
        ",".join(str(item["title"]) for item in items),
        ",".join(str(item["url"]) for item in items),
        sum(item["qty"] * item["price"] for item in items) + adjustments,
        purchase.get("channel", "online"),
        ",".join(str(item["price"]) for item in items),
        ",".join(str(item["qty"]) for item in items),
        json.dumps(purchase),
    )
