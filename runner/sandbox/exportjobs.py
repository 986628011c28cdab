"""The export jobs: CSV files written by streaming an SQL query straight to disk.

export_list_data: the profile columns are stored as CSV cells (runner/sandbox/store.py), so
SQLite joins them into the line's text and Python only appends the vars (quoted where
needed) and writes. The purchase log and scheduled sends go through csv.writer. Rows come
from a cursor in bounded batches: memory stays constant whatever the list's size.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from runner.sailthru import contract
from runner.sandbox.errors import api_error, refuse_by_contract
from runner.sandbox.jobs import Accepted, JobEnv, JobKind, JobRecord, Outcome
from runner.sandbox.wire import Upload

# export_list_data's columns in the order real exports write them: field -> (header, SQL).
# ``Profile Id`` and ``Email Hash`` always come first; the rest follow ``fields``.
LIST_COLUMNS: dict[str, tuple[str, str]] = {
    "domain": ("Domain", "u.domain"),
    "engagement": ("Engagement", "u.engagement"),
    "lists": ("Lists", "u.lists_cell"),  # generated from the names a trigger keeps
    "profile_created_date": ("Profile Created Date", "u.profile_created_date"),
    "signup": ("Signup", "u.signup"),
    "opens": ("Opens", "u.opens"),
    "clicks": ("Clicks", "u.clicks"),
    "pageviews": ("Pageviews", "u.pageviews"),
    "last_open": ("Last Open", "u.last_open"),
    "last_click": ("Last Click", "u.last_click"),
    "last_pageview": ("Last Pageview", "u.last_pageview"),
    "optout_time": ("Optout Time", "u.optout_time"),
    "list_signup": ("List Signup", "m.signup"),
    "geolocation_city": ("Geolocation City", "u.geolocation_city"),
    "geolocation_state": ("Geolocation State", "u.geolocation_state"),
    "geolocation_country": ("Geolocation Country", "u.geolocation_country"),
    "geolocation_zip": ("Geolocation Zip", "u.geolocation_zip"),
    "lifetime_message": ("Lifetime Message", "u.lifetime_message"),
    "first_purchase_time": ("First Purchase Time", "u.first_purchase_time"),
    "purchase_count": ("Purchase Count", "u.purchase_count"),
    "purchase_price": ("Purchase Price", "u.purchase_price"),
    "purchase_incomplete": ("Purchase Incomplete", "u.purchase_incomplete"),
    "last_purchase_time": ("Last Purchase Time", "u.last_purchase_time"),
    "largest_purchase_item_price": ("Largest Purchase Item Price", "u.largest_purchase_item_price"),
    "top_device": ("Top Device", "u.top_device"),
    "email_status": ("Email Status", "u.email_status"),
    # Not in a default export; written when asked for in ``fields``.
    "email_status_time": ("Email Status Time", "u.email_status_time"),
    "email_message": ("Email Message", "u.email_message"),
}
DEFAULT_LIST_FIELDS = [f for f in LIST_COLUMNS if f not in ("email_status_time", "email_message")]
# The same columns as pieces SQLite keeps ready in each row (see runner/sandbox/store.py).
DEFAULT_LIST_CELLS = [
    "u.frag_head", "u.lists_cell", "u.frag_mid", "m.signup", "u.frag_tail"
]  # fmt: skip
HASH_COLUMNS = {"md5": "u.md5", "sha256": "u.sha256"}
PURCHASE_HEADER = [
    "Date", "Email Hash", "Extid", "Message ID", "Items", "Urls", "Price", "Channel",
    "Unit Prices", "Quantities",
]  # fmt: skip
SCHEDULED_HEADER = ["Send Id", "Template", "Email Hash", "Send Time"]
WRITE_BUFFER = 1024 * 1024


class Rows(Protocol):
    """Rows read in batches: an SQLite cursor, or ``_Batches`` over any iterable."""

    def fetchmany(self, size: int) -> list[Any]: ...


FETCH_BATCH = 10_000  # rows per fetch: the stop check's granularity, constant memory


def write_csv(env: JobEnv, header: list[str], cursor: Rows) -> Path:
    """Rows from ``cursor`` to a new export file named by an unguessable token."""
    return _write(env, header, cursor, lambda sink, rows: csv.writer(sink).writerows(rows))


def write_rows(env: JobEnv, header: list[str], rows: Iterable[Sequence[object]]) -> Path:
    """Rows from any iterable (a plugin's kind, a generator) to a new export file."""
    return write_csv(env, header, _Batches(rows))


class _Batches:
    """An iterable of rows read the way ``_write`` reads a cursor."""

    def __init__(self, rows: Iterable[Sequence[object]]) -> None:
        self._rows = iter(rows)

    def fetchmany(self, size: int) -> list[Sequence[object]]:
        return list(itertools.islice(self._rows, size))


def write_lines(env: JobEnv, header: list[str], cursor: sqlite3.Cursor) -> Path:
    """Rows of one column, each a whole CSV line, to a new export file."""
    return _write(env, header, cursor, lambda sink, rows: sink.writelines(r for (r,) in rows))


def _write(
    env: JobEnv,
    header: list[str],
    cursor: Rows,
    write_rows: Callable[[TextIO, list[Any]], object],
) -> Path:
    """The header, then the cursor's rows a batch at a time (constant memory; a stopping
    sandbox ends the job between batches). No partial file is left behind."""
    env.export_dir.mkdir(parents=True, exist_ok=True)
    path = env.export_dir / f"{secrets.token_hex(16)}.csv"
    partial = path.with_suffix(".part")
    try:
        with open(partial, "w", newline="", encoding="utf-8", buffering=WRITE_BUFFER) as sink:
            csv.writer(sink).writerow(header)
            while rows := cursor.fetchmany(FETCH_BATCH):
                env.check_stopping()
                write_rows(sink, rows)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def _sql_text(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _sql_cell(expression: str) -> str:
    """SQL for ``expression`` as a CSV cell: '' for NULL, quoted when it holds , " CR LF.

    A scalar subquery, so that ``expression`` (a json_extract) is evaluated once, not once
    per test of the value.
    """
    special = "instr(v, ',') OR instr(v, '\"') OR instr(v, char(10)) OR instr(v, char(13))"
    quoted = "'\"' || replace(v, '\"', '\"\"') || '\"'"
    return f"(SELECT ifnull(iif({special}, {quoted}, v), '') FROM (SELECT {expression} AS v))"


def export_filename(name: str) -> str:
    """``Main Newsletter`` -> ``main_newsletter.csv``; ``Café`` -> ``cafe.csv``.

    ASCII only: the name goes into a Content-Disposition header, and an HTTP header cannot
    carry other characters (accents are folded, anything else becomes ``_``).
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^a-z0-9_.-]+", "_", folded.strip().lower()).strip("_.") or "export"
    return f"{stem}.csv"


class ExportListData(JobKind):
    job = "export_list_data"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        name = payload["list"]
        with env.store.connect() as db:
            if not isinstance(name, str) or env.store.list_id(db, name) is None:
                raise api_error(contract.LIST_NOT_FOUND)
        return Accepted(f"Export All List Data: {name}", {"list": name})

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        payload = record.payload
        algo = hash_algo(payload.get("hash_algo"))
        with env.store.connect() as db:
            list_id = env.store.list_id(db, payload["list"])
            if list_id is None:
                raise api_error(contract.LIST_NOT_FOUND)
            names, var_names = self._columns(payload.get("fields"), db, list_id)
            header = ["Profile Id", "Email Hash"] + [LIST_COLUMNS[n][0] for n in names] + var_names
            cells = ["u.profile_id", HASH_COLUMNS[algo]]
            if names == DEFAULT_LIST_FIELDS:
                cells += DEFAULT_LIST_CELLS
            else:
                cells += [LIST_COLUMNS[n][1] for n in names]
            (rows,) = db.execute(
                "SELECT count(*) FROM list_members WHERE list_id = ?", (list_id,)
            ).fetchone()
            # The profile cells are stored CSV-ready; var values are quoted here if needed.
            paths = [_sql_text('$."' + name + '"') for name in var_names]
            cells += [_sql_cell(f"json_extract(u.vars, {path})") for path in paths]
            line = " || ',' || ".join(cells)
            cursor = db.execute(
                f"SELECT {line} || char(13) || char(10)"
                " FROM list_members m JOIN users u ON u.id = m.user_id"
                " WHERE m.list_id = ? ORDER BY m.user_id",
                (list_id,),
            )
            path = write_lines(env, header, cursor)
        return Outcome({"filename": export_filename(payload["list"])}, rows, path)

    def _columns(
        self, fields: Any, db: sqlite3.Connection, list_id: int
    ) -> tuple[list[str], list[str]]:
        if not fields or not isinstance(fields, dict):  # not a map: as if not given
            return DEFAULT_LIST_FIELDS, self._all_vars(db, list_id)
        names = [name for name in LIST_COLUMNS if _wanted(fields.get(name))]
        wanted_vars = fields.get("vars")
        if isinstance(wanted_vars, dict):
            var_names = [str(k) for k, v in wanted_vars.items() if _wanted(v) and '"' not in str(k)]
        elif _wanted(wanted_vars):
            var_names = self._all_vars(db, list_id)
        else:
            var_names = []
        return names, var_names

    def _all_vars(self, db: sqlite3.Connection, list_id: int) -> list[str]:
        rows = db.execute(
            "SELECT key FROM list_var_keys WHERE list_id = ? ORDER BY key", (list_id,)
        ).fetchall()
        return [row[0] for row in rows if '"' not in row[0]]


def hash_algo(value: Any) -> str:
    """The Email Hash column's algorithm. The page documents md5 (the default) and sha256;
    what the API does with other values is undocumented, so the sandbox takes them as the
    default (the runner warns about them) rather than inventing an error."""
    algo = str(value).lower() if value is not None else "md5"
    return algo if algo in HASH_COLUMNS else "md5"


def _wanted(value: Any) -> bool:
    return value not in (None, 0, "0", False, "", "false")


class ExportPurchaseLog(JobKind):
    job = "export_purchase_log"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        raw_start, raw_end = payload["start_date"], payload["end_date"]
        return Accepted(f"Export purchase logs from {raw_start} to {raw_end}")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        start = str(record.payload["start_date"]).strip()
        end = str(record.payload["end_date"]).strip()
        bounds = (int(start), int(end))
        with env.store.connect() as db:
            (rows,) = db.execute(
                "SELECT count(*) FROM purchases WHERE date_key BETWEEN ? AND ?", bounds
            ).fetchone()
            cursor = db.execute(
                "SELECT date, md5, extid, message_id, items, urls, price, channel, unit_prices,"
                " quantities FROM purchases WHERE date_key BETWEEN ? AND ? ORDER BY date_key, id",
                bounds,
            )
            path = write_csv(env, PURCHASE_HEADER, cursor)
        return Outcome({"filename": f"purchase_log-{start}-{end}.csv"}, rows, path)


class ExportScheduledSends(JobKind):
    job = "export_scheduled_sends"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        return Accepted("Export Scheduled Sends")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        now = time.time()
        with env.store.connect() as db:
            (rows,) = db.execute(
                "SELECT count(*) FROM scheduled_sends WHERE send_ts > ?", (now,)
            ).fetchone()
            cursor = db.execute(
                "SELECT send_id, template, md5, send_time FROM scheduled_sends"
                " WHERE send_ts > ? ORDER BY send_ts, id",
                (now,),
            )
            path = write_csv(env, SCHEDULED_HEADER, cursor)
        return Outcome({"filename": "scheduled_sends.csv"}, rows, path)
