"""The profile jobs on the sandbox: ``update`` (a bulk update of user profiles) and
``snapshot`` (the analytics of the users a query selects).

Sandbox assumptions, where Sailthru's docs are thin (README, "The sandbox"):

- ``update`` applies the ``update`` object to every selected user, then a file line's own
  changes (the more specific last). ``vars`` are merged into the user's; ``lists`` adds (1,
  creating a list that does not exist, as the user API does) or removes (0) memberships;
  ``optout`` (a line's ``optout_email`` too) is kept per user, and sets the profile's Optout
  Time (cleared by ``none``). An address that has no profile gets one (the docs: "If an email
  address does not currently exist, a new user profile will be created"), with ``emails``
  and no ``update`` too (then that is all the job does); a line naming a
  ``sid`` that does not exist, or a ``key`` the sandbox does not keep (extid, ...), ends the
  job in error naming the line, as does a line that cannot be applied. Nothing is written
  until every line has been read. The completed answer counts what it did
  (``update_count``, ``profiles_created``, ``list_adds``, ``list_removals``); Sailthru
  documents no such fields.
- ``snapshot``: the docs do not say what a snapshot returns. The sandbox completes it with
  counts in its answer (``user_count`` and one ``engagement_<level>`` per level), which the
  report email (``report_email``) carries.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from runner.emails import is_valid_email, split_emails
from runner.jsontypes import loads_strict
from runner.sailthru.contract_profiles import (
    UPDATE_COUNT_FIELD,
    UPDATE_WARNING_FIELD,
    line_findings,
    line_user,
)
from runner.sailthru.contract_queries import ENGAGEMENT_LEVELS
from runner.sandbox.errors import refuse_by_contract
from runner.sandbox.imports import WRITE_BATCH, batched, check_upload, fetch_url
from runner.sandbox.jobs import (
    IMPORT_POOL,
    Accepted,
    JobEnv,
    JobFailed,
    JobKind,
    JobRecord,
    Outcome,
)
from runner.sandbox.queries import matching_user_ids
from runner.sandbox.store import Store, csv_cell, rfc2822, user_row
from runner.sandbox.wire import Upload, remove_quietly

# Each user's opt-out level (the users table has only the time, the export's Optout Time).
OPTOUT_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS profile_optouts (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    optout TEXT NOT NULL
);
"""
LIST_SEPARATOR: Final = "\x1f"  # of users.lists (runner/sandbox/store.py)


@dataclass
class UpdateTally:
    """What an update did, for its answer."""

    users: set[int] = field(default_factory=set)
    created: int = 0
    list_adds: int = 0
    list_removals: int = 0

    def fields(self) -> dict[str, Any]:
        return {
            UPDATE_COUNT_FIELD: len(self.users),
            "profiles_created": self.created,
            "list_adds": self.list_adds,
            "list_removals": self.list_removals,
        }


class BulkUpdate(JobKind):
    job = "update"
    pool = IMPORT_POOL
    schema = OPTOUT_SCHEMA

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        check_upload(payload, upload, required=False)
        return Accepted("Bulk Update")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        payload = record.payload
        common: Mapping[str, Any] = payload.get("update") or {}
        tally = UpdateTally()
        url = payload.get("url")
        fetched = fetch_url(str(url).strip(), env) if url not in (None, "") else None
        path = fetched or (Path(record.upload_path) if record.upload_path else None)
        try:
            if path is not None:
                self._from_file(path, common, env, tally)
            else:  # without `update`, `emails` still creates the profiles it lacks
                with env.store.transaction() as db:
                    for user_id in self._selected(payload, env.store, db, tally):
                        if common:
                            apply_change(env.store, db, user_id, common, tally)
        finally:
            remove_quietly(fetched)
        fields = tally.fields()
        if not tally.users:
            fields[UPDATE_WARNING_FIELD] = nothing_updated(payload, common, path is not None)
        return Outcome(fields=fields, rows=len(tally.users))

    def _selected(
        self, payload: Mapping[str, Any], store: Store, db: sqlite3.Connection, tally: UpdateTally
    ) -> list[int]:
        emails = payload.get("emails")
        if isinstance(emails, list):
            emails = ",".join(str(email) for email in emails)
        if isinstance(emails, str) and emails:
            addresses = [email for email in split_emails(emails) if is_valid_email(email)]
            return [user_by_email(store, db, email, tally) for email in addresses]
        # A query selects existing users only: without `update` there is nothing to do.
        return matching_user_ids(db, payload.get("query")) if payload.get("update") else []

    def _from_file(
        self, path: Path, common: Mapping[str, Any], env: JobEnv, tally: UpdateTally
    ) -> None:
        for batch in batched(update_lines(path), WRITE_BATCH):  # every line checked first
            env.check_stopping()
            with env.store.connect() as db:
                for number, line in batch:
                    find_user(db, number, line)
        for batch in batched(update_lines(path), WRITE_BATCH):
            env.check_stopping()
            with env.store.transaction() as db:
                for number, line in batch:
                    user_id = user_of_line(env.store, db, number, line, tally)
                    apply_change(env.store, db, user_id, common, tally)
                    apply_change(env.store, db, user_id, line_change(line), tally)


def nothing_updated(payload: Mapping[str, Any], common: Mapping[str, Any], from_file: bool) -> str:
    """Why an update changed nobody (its answer's warning)."""
    if from_file:
        return "the file names no user"
    if not common and payload.get("query") is not None:
        return "no `update` given: the users of `query` get only what it says"
    if not common:
        return "no `update` given, and every address of `emails` already has a profile"
    return "the query selected no user" if payload.get("query") is not None else "no user given"


def update_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The lines of an update file as objects, each checked with the contract's line rules;
    a line that cannot be applied ends the job in error naming it."""
    with open(path, "rb") as source:
        for number, raw in enumerate(source, start=1):
            try:
                text = raw.decode("utf-8").lstrip("\ufeff")
            except UnicodeDecodeError as error:
                raise JobFailed(f"Line {number}: the file is not UTF-8 text") from error
            if not text.strip():
                continue
            try:
                line = loads_strict(text)
            except ValueError as error:
                raise JobFailed(f"Line {number}: not valid JSON ({error})") from error
            if not isinstance(line, dict):
                raise JobFailed(f"Line {number}: each line is one JSON object (a user)")
            for finding in line_findings(line):
                if finding.futile:
                    where = ".".join(str(part) for part in finding.param)
                    raise JobFailed(
                        f"Line {number}: {where + ': ' if where else ''}{finding.detail}"
                    )
            yield number, line


def line_change(line: Mapping[str, Any]) -> dict[str, Any]:
    """A line's own changes, in the ``update`` object's words (``optout_email`` → ``optout``)."""
    change = {key: line[key] for key in ("vars", "lists", "optout") if key in line}
    if "optout_email" in line:
        change["optout"] = line["optout_email"]
    return change


def find_user(db: sqlite3.Connection, number: int, line: Mapping[str, Any]) -> int | None:
    """The id of the user a line names; None for an address without a profile (the update
    creates one). A ``sid`` that does not exist, or a ``key`` the sandbox does not keep, ends
    the job in error naming the line."""
    key, value = line_user(line)
    column = {"email": "email", "sid": "profile_id"}.get(key)
    if column is None:
        raise JobFailed(
            f"Line {number}: the sandbox knows users by email and sid only, not by {key!r}; "
            "test this file on Sailthru"
        )
    if key == "email":
        value = value.strip().lower()
    row = db.execute(f"SELECT id FROM users WHERE {column} = ?", (value,)).fetchone()
    if row is None and key == "sid":
        raise JobFailed(f"Line {number}: no user has the sid {value!r}")
    return None if row is None else int(row[0])


def user_of_line(
    store: Store, db: sqlite3.Connection, number: int, line: Mapping[str, Any], tally: UpdateTally
) -> int:
    user_id = find_user(db, number, line)
    return user_id if user_id is not None else user_by_email(store, db, line_user(line)[1], tally)


def user_by_email(store: Store, db: sqlite3.Connection, email: str, tally: UpdateTally) -> int:
    """The user with this address; a new profile (on no list) when there is none."""
    email = email.strip().lower()
    row = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
    if row is None:
        store.add_users(db, None, [user_row(email, rfc2822(store.now()))])
        row = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        tally.created += 1
        tally.users.add(int(row[0]))  # a new profile is a profile the update wrote
    return int(row[0])


def apply_change(
    store: Store,
    db: sqlite3.Connection,
    user_id: int,
    change: Mapping[str, Any],
    tally: UpdateTally,
) -> None:
    """One user gets ``change`` (vars, lists, optout), already checked by the contract."""
    tally.users.add(user_id)
    variables = change.get("vars")
    if variables:
        (stored,) = db.execute("SELECT vars FROM users WHERE id = ?", (user_id,)).fetchone()
        merged = {**json.loads(stored or "{}"), **variables}
        db.execute("UPDATE users SET vars = ? WHERE id = ?", (json.dumps(merged), user_id))
        # The names of a list's vars are its export's columns.
        db.execute(
            "INSERT OR IGNORE INTO list_var_keys (list_id, key)"
            " SELECT m.list_id, j.key FROM list_members m, json_each(?) j WHERE m.user_id = ?",
            (json.dumps(variables), user_id),
        )
    for name, flag in (change.get("lists") or {}).items():
        if flag == 1:
            tally.list_adds += add_to_list(store, db, user_id, name)
        else:
            tally.list_removals += remove_from_list(store, db, user_id, name)
    optout = change.get("optout")
    if optout is not None:
        db.execute(
            "INSERT OR REPLACE INTO profile_optouts (user_id, optout) VALUES (?, ?)",
            (user_id, optout),
        )
        moment = "" if optout == "none" else csv_cell(rfc2822(store.now()))
        db.execute("UPDATE users SET optout_time = ? WHERE id = ?", (moment, user_id))


def add_to_list(store: Store, db: sqlite3.Connection, user_id: int, name: str) -> int:
    list_id = store.list_id(db, name, create=True)
    cursor = db.execute(
        "INSERT INTO list_members (list_id, user_id, signup) VALUES (?, ?, ?)"
        " ON CONFLICT(list_id, user_id) DO NOTHING",
        (list_id, user_id, csv_cell(rfc2822(store.now()))),
    )
    return cursor.rowcount  # the trigger adds the name to the user's lists


def remove_from_list(store: Store, db: sqlite3.Connection, user_id: int, name: str) -> int:
    list_id = store.list_id(db, name)
    if list_id is None:
        return 0
    cursor = db.execute(
        "DELETE FROM list_members WHERE list_id = ? AND user_id = ?", (list_id, user_id)
    )
    if cursor.rowcount:
        (lists,) = db.execute("SELECT lists FROM users WHERE id = ?", (user_id,)).fetchone()
        kept = [item for item in lists.split(LIST_SEPARATOR) if item and item != name]
        db.execute("UPDATE users SET lists = ? WHERE id = ?", (LIST_SEPARATOR.join(kept), user_id))
    return cursor.rowcount


# Engagement levels from the most engaged down, as the snapshot counts them.
SNAPSHOT_LEVELS: Final = tuple(
    sorted(ENGAGEMENT_LEVELS, key=lambda level: -ENGAGEMENT_LEVELS[level])
)


class Snapshot(JobKind):
    job = "snapshot"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        source = payload["query"].get("source_list")
        return Accepted(f"Snapshot: {source}" if isinstance(source, str) and source else "Snapshot")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        with env.store.connect() as db:
            ids = matching_user_ids(db, record.payload["query"])
            counts = dict(
                db.execute(
                    "SELECT engagement, count(*) FROM users"
                    " WHERE id IN (SELECT value FROM json_each(?)) GROUP BY engagement",
                    (json.dumps(ids),),
                ).fetchall()
            )
        fields: dict[str, Any] = {"user_count": len(ids)}
        fields.update({f"engagement_{level}": counts.get(level, 0) for level in SNAPSHOT_LEVELS})
        return Outcome(fields=fields, rows=len(ids))
