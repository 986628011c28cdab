"""The campaign jobs on the sandbox: ``blast_query``, ``blast_save_list``, ``blast_snapshot``.

They read the campaigns (blasts) and their recipients in runner/sandbox/store.py; the demo's
campaigns come from runner.sandbox.blastseed.py. A ``query`` narrows the recipients
(runner/sandbox/queries.py); in a campaign job its ``open_time`` and ``click_time`` criteria
read THIS campaign's opens and clicks (sandbox assumption: the docs do not say whether they
read the campaign's activity or the user's whole history), with ``timerange`` ``ever`` or
``not_ever``.

An unknown ``blast_id`` is answered at POST with Sailthru's generic error 13 "Unknown
blast_id", as ``export_list_data`` answers an unknown list at POST: the sandbox knows its
campaigns when the job arrives, so a client learns it at once rather than from a failed job.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from runner.sailthru.contract_blasts import (
    ADDED_COUNT_FIELD,
    SAVED_COUNT_FIELD,
    UNKNOWN_BLAST_ID,
    blast_id_number,
)
from runner.sandbox.errors import ApiError, api_error, refuse_by_contract
from runner.sandbox.exportjobs import write_rows
from runner.sandbox.jobs import Accepted, JobEnv, JobFailed, JobKind, JobRecord, Outcome
from runner.sandbox.queries import matching_user_ids
from runner.sandbox.store import rfc2822
from runner.sandbox.wire import Upload

# Sandbox assumption: the docs only say "profile ID, hashed email address, and open/click
# data". Two real headers disagree (docs/job-types.md); this is the one of a real export file
# (stevedoesitall/stats' example, without the `email` column its script appended). `extid`
# is the user's external id, which the sandbox's users do not have (always empty).
BLAST_QUERY_HEADER: Final = [
    "profile_id", "email hash", "send_time", "open_time", "click_time", "first_ten_clicks",
    "purchase_time", "device", "extid", "first_ten_clicks_time",
]  # fmt: skip
# Fields of the sandbox's GET answers (Sailthru documents none for these jobs).
SNAPSHOT_FIELDS: Final = ("recipients", "opened", "clicked", "purchased")
# Query criteria read from the campaign's own data: each is a column of blast_recipients.
ACTIVITY_COLUMNS: Final = ("open_time", "click_time")


def _blast(db: sqlite3.Connection, payload: dict[str, Any]) -> tuple[int, str]:
    """The campaign's id and name, or error 13."""
    number = blast_id_number(payload.get("blast_id"))
    row = None
    if number is not None:
        row = db.execute(
            "SELECT blast_id, name FROM blasts WHERE blast_id = ?", (number,)
        ).fetchone()
    if row is None:
        raise api_error(UNKNOWN_BLAST_ID)
    return int(row[0]), str(row[1])


def _recipients(db: sqlite3.Connection, blast_id: int, query: Any) -> list[int]:
    """The ids of the campaign's recipients its ``query`` selects (all without one)."""
    ids = _user_ids(db, blast_id)
    if not query:
        return ids
    activity = {name: set(_user_ids(db, blast_id, did=name)) for name in ACTIVITY_COLUMNS}
    return matching_user_ids(db, query, among=ids, activity=activity)


def _user_ids(db: sqlite3.Connection, blast_id: int, did: str | None = None) -> list[int]:
    """The campaign's recipients, or those of them with a time in column ``did``."""
    where = f" AND {did} != ''" if did in ACTIVITY_COLUMNS else ""
    sql = f"SELECT user_id FROM blast_recipients WHERE blast_id = ?{where} ORDER BY user_id"
    return [row[0] for row in db.execute(sql, (blast_id,))]


class _BlastKind(JobKind):
    """What the three share: the contract's refusals and the campaign looked up at POST,
    the recipients its query selects when the job runs."""

    title = ""  # the job's name is "<title>: <campaign name>" (the sandbox's wording)

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        with env.store.connect() as db:
            blast_id, name = _blast(db, payload)
        return Accepted(f"{self.title}: {name}", {"blast_id": blast_id})

    def _selected(self, record: JobRecord, db: sqlite3.Connection) -> tuple[int, list[int]]:
        try:
            blast_id, _ = _blast(db, record.payload)
        except ApiError as error:  # the campaign is gone (a kept data directory changed)
            raise JobFailed(UNKNOWN_BLAST_ID.message) from error
        return blast_id, _recipients(db, blast_id, record.payload.get("query"))


class BlastQuery(_BlastKind):
    """A CSV of the campaign's recipients (those the query selects) with their opens,
    clicks and purchases; columns: ``BLAST_QUERY_HEADER`` (an assumption, see there).
    ``filename`` ``blast_<id>.csv`` is the sandbox's too."""

    job = "blast_query"
    title = "Blast Query"

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        with env.store.connect() as db:
            blast_id, ids = self._selected(record, db)
            wanted = set(ids)
            cursor = db.execute(
                "SELECT r.user_id, u.profile_id, u.md5, r.send_time, r.open_time, r.click_time,"
                " r.first_ten_clicks, r.purchase_time, r.device, '', r.first_ten_clicks_time"
                " FROM blast_recipients r JOIN users u ON u.id = r.user_id"
                " WHERE r.blast_id = ? ORDER BY r.user_id",
                (blast_id,),
            )
            selected = (row[1:] for row in cursor if row[0] in wanted)
            path = write_rows(env, BLAST_QUERY_HEADER, selected)
        return Outcome({"filename": f"blast_{blast_id}.csv"}, len(ids), path)


class BlastSaveList(_BlastKind):
    """Adds the campaign's recipients (those the query selects) to a natural list, created
    if new. Users already on it stay as they are, so a second run changes nothing.
    ``saved_count`` (selected) and ``added_count`` (new to the list) are the sandbox's."""

    job = "blast_save_list"
    title = "Blast Save List"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        accepted = super().validate(payload, upload, env)
        accepted.fields["list"] = payload["list"]
        return accepted

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        name = record.payload["list"]
        signup = rfc2822(env.store.now())
        with env.store.transaction() as db:
            _, ids = self._selected(record, db)
            list_id = env.store.list_id(db, name, create=True)
            (before,) = _members(db, list_id)
            db.executemany(
                "INSERT INTO list_members (list_id, user_id, signup) VALUES (?, ?, ?)"
                " ON CONFLICT(list_id, user_id) DO NOTHING",
                [(list_id, user_id, signup) for user_id in ids],
            )
            (after,) = _members(db, list_id)
        return Outcome({SAVED_COUNT_FIELD: len(ids), ADDED_COUNT_FIELD: after - before}, len(ids))


def _members(db: sqlite3.Connection, list_id: int | None) -> tuple[int]:
    return db.execute("SELECT count(*) FROM list_members WHERE list_id = ?", (list_id,)).fetchone()


class BlastSnapshot(_BlastKind):
    """Counts of the campaign's recipients (those the query selects): ``recipients``,
    ``opened``, ``clicked``, ``purchased``, in the job's GET answer and so in its report
    email. Sandbox assumption: the docs say only "a detailed snapshot of their analytics
    (similar to the Snapshot Report)"; these counts stand in for it. No export file."""

    job = "blast_snapshot"
    title = "Blast Snapshot"

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        with env.store.connect() as db:
            blast_id, ids = self._selected(record, db)
            rows = db.execute(
                "SELECT user_id, open_time != '', click_time != '', purchase_time != ''"
                " FROM blast_recipients WHERE blast_id = ?",
                (blast_id,),
            ).fetchall()
        wanted = set(ids)
        chosen = [row for row in rows if row[0] in wanted]
        counts = [len(chosen)] + [sum(1 for row in chosen if row[i]) for i in (1, 2, 3)]
        return Outcome(dict(zip(SNAPSHOT_FIELDS, counts, strict=True)), len(chosen))
