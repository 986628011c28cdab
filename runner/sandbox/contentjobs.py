"""The content jobs and ``list_erase`` on the sandbox's data.

Sailthru's pages are thin for all three (runner/sailthru/contract_content.py says what is
documented); what the sandbox does beyond them is its ASSUMPTION:

- ``content_update`` upserts each line's item: the line's fields replace the item's
  (top-level keys; the others stay), an item without a ``date`` gets the sandbox's time as its
  publish date. A line names its item by ``id`` (the url, unless ``key: sku``) or ``url``.
  With ``key: sku`` it updates the stored item whose ``sku`` is the ``id`` (the content
  API's "secondary key"; the first by url should several share it), and the line's ``url``,
  if any, moves it there. A sku that no item has (nor an earlier line of the file gave)
  fails the job naming the line, unless the line gives the ``url``: the sandbox cannot create
  an item without its URL (the content API requires it to create one). A bad line fails the
  whole job naming the line, before anything is written.
- ``delete_content`` deletes the items whose ``expire_date`` has passed (``expired_only:
  true``) or every item (``false``), within the publish-date range when one is given; its
  answer's ``deleted_count`` says how many.
- ``list_erase`` deletes the named lists and their memberships (the users stay). A name
  that is no list is skipped, not an error: the job completes and ``lists_not_found`` names
  it (the runner warns). The job's name is ``Bulk List Erase: N requested``, as in the
  official .NET client's mock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runner.jsontypes import loads_strict
from runner.limits import parse_yyyymmdd
from runner.sailthru.contract_content import (
    DELETED_COUNT_FIELD,
    ERASED_LISTS_FIELD,
    LISTS_NOT_FOUND_FIELD,
    content_date,
    content_id,
    content_item_problems,
)
from runner.sandbox.errors import refuse_by_contract
from runner.sandbox.imports import WRITE_BATCH, batched, check_upload
from runner.sandbox.jobs import (
    EXPORT_POOL,
    IMPORT_POOL,
    Accepted,
    JobEnv,
    JobFailed,
    JobKind,
    JobRecord,
    Outcome,
)
from runner.sandbox.store import Store, rfc2822, user_row
from runner.sandbox.wire import Upload

CONTENT_COLUMNS = "url, title, tags, date, date_key, expire_date, expire_ts, vars, data"


class ContentUpdate(JobKind):
    job = "content_update"
    pool = IMPORT_POOL

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        check_upload(payload, upload, required=True)
        return Accepted("Content Update")  # the Ruby client's fixture answer

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        assert record.upload_path is not None
        path = Path(record.upload_path)
        skus: set[str] = set()  # the skus earlier lines of the file give their items
        for lines in batched(content_items(path), WRITE_BATCH):  # every line checked first
            env.check_stopping()
            with env.store.connect() as db:
                for number, item in lines:
                    check_sku_known(db, number, item, skus)
        count = 0
        for lines in batched(content_items(path), WRITE_BATCH):
            env.check_stopping()
            with env.store.transaction() as db:
                for _, item in lines:
                    upsert_content(db, item, env.store.now())
            count += len(lines)
        return Outcome(rows=count)


def check_sku_known(
    db: sqlite3.Connection, number: int, item: dict[str, Any], skus: set[str]
) -> None:
    """A line naming its item by sku needs that item, or its ``url`` to create it."""
    kind, value = _named(item)
    if kind == "sku" and value not in skus and not item.get("url") and not url_of_sku(db, value):
        raise JobFailed(
            f"Line {number}: no content item has sku {value!r}, and the sandbox cannot create "
            "one without its URL: add `url`, the page's address"
        )
    sku = value if kind == "sku" else item.get("sku")
    if sku not in (None, ""):
        skus.add(str(sku))


def url_of_sku(db: sqlite3.Connection, sku: str) -> str | None:
    """The url of the stored item whose ``sku`` is ``sku`` (the first by url), or None."""
    row = db.execute(
        "SELECT url FROM content WHERE CAST(json_extract(data, '$.sku') AS TEXT) = ?"
        " ORDER BY url LIMIT 1",
        (sku,),
    ).fetchone()
    return str(row[0]) if row else None


def _named(item: dict[str, Any]) -> tuple[str, str]:
    named = content_id(item)
    assert named is not None, "the contract checked the line: it names its item"
    return named


def content_items(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line's number and content object, checked by the contract (a bad line fails the
    job)."""
    with open(path, "rb") as source:
        for number, raw in enumerate(source, start=1):
            if not raw.strip():
                continue
            try:
                item = loads_strict(raw.decode("utf-8").lstrip("\ufeff"))
            except (UnicodeDecodeError, ValueError) as error:
                raise JobFailed(f"Line {number}: not a JSON object of UTF-8 text") from error
            if not isinstance(item, dict):
                raise JobFailed(f"Line {number}: each line is one JSON object, a content item")
            for where, problem in content_item_problems(item):
                raise JobFailed(f"Line {number}: {where}: {problem}")
            yield number, item


def upsert_content(db: sqlite3.Connection, item: dict[str, Any], now: datetime) -> None:
    """Create the item, or write the line's fields over the existing item's. ``id`` and
    ``key`` only name the item: the item keeps its ``url`` and, named by sku, its ``sku``."""
    kind, value = _named(item)
    fields = {name: field for name, field in item.items() if name not in ("id", "key")}
    if kind == "url":
        fields["url"] = stored = value
    else:
        fields["sku"] = item["id"]
        stored = url_of_sku(db, value) or item["url"]  # no such item: the line's url creates it
        fields["url"] = item.get("url") or stored
    row = db.execute("SELECT data FROM content WHERE url = ?", (stored,)).fetchone()
    if stored != fields["url"]:  # named by sku, with a new url: the item moves
        db.execute("DELETE FROM content WHERE url = ?", (stored,))
    data = {**json.loads(row[0]), **fields} if row else fields
    published = content_date(data.get("date")) or now  # the lines were checked: None is no date
    expires = content_date(data.get("expire_date"))
    tags = data.get("tags", "")
    db.execute(
        f"INSERT OR REPLACE INTO content ({CONTENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (
            data["url"],
            data.get("title", ""),
            ",".join(tags) if isinstance(tags, list) else tags,
            rfc2822(published),
            int(published.astimezone(UTC).strftime("%Y%m%d")),
            rfc2822(expires) if expires else "",
            expires.timestamp() if expires else None,
            json.dumps(data.get("vars", {})),
            json.dumps(data),
        ),
    )


class DeleteContent(JobKind):
    job = "delete_content"
    pool = EXPORT_POOL  # not an import: it takes no import slot

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        return Accepted("Delete Content")  # sandbox assumption: the docs show no answer

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        payload = record.payload
        where, args = [], []
        if payload["expired_only"] in (True, 1):
            where.append("expire_ts IS NOT NULL AND expire_ts <= ?")
            args.append(datetime.now(UTC).timestamp())  # expired now, by the clock
        start = parse_yyyymmdd(payload.get("start_date"))
        end = parse_yyyymmdd(payload.get("end_date"))
        if start is not None and end is not None:
            where.append("date_key BETWEEN ? AND ?")
            args += [int(f"{start:%Y%m%d}"), int(f"{end:%Y%m%d}")]
        condition = " AND ".join(where) or "1"
        with env.store.transaction() as db:
            deleted = db.execute(f"DELETE FROM content WHERE {condition}", args).rowcount
        return Outcome(fields={DELETED_COUNT_FIELD: deleted}, rows=deleted)


class ListErase(JobKind):
    job = "list_erase"
    pool = EXPORT_POOL  # not an import: it takes no import slot

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        refuse_by_contract(self.job, payload, upload)
        return Accepted(f"Bulk List Erase: {len(payload['lists'])} requested")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        erased: list[str] = []
        missing: list[str] = []
        members = 0
        with env.store.transaction() as db:
            for name in dict.fromkeys(record.payload["lists"]):  # each name once, in order
                list_id = env.store.list_id(db, name)
                if list_id is None:
                    missing.append(name)
                    continue
                members += erase_list(db, list_id, name)
                erased.append(name)
        fields = {ERASED_LISTS_FIELD: erased, LISTS_NOT_FOUND_FIELD: missing}
        return Outcome(fields=fields, rows=members)


def erase_list(db: sqlite3.Connection, list_id: int, name: str) -> int:
    """Delete a list and its memberships, and its name from its users' ``lists``; the users
    stay. Returns how many members it had."""
    db.execute(
        "UPDATE users SET lists = trim(replace(char(31) || lists || char(31),"
        " char(31) || ? || char(31), char(31)), char(31))"
        " WHERE id IN (SELECT user_id FROM list_members WHERE list_id = ?)",
        (name, list_id),
    )
    members = db.execute("DELETE FROM list_members WHERE list_id = ?", (list_id,)).rowcount
    db.execute("DELETE FROM list_var_keys WHERE list_id = ?", (list_id,))
    db.execute("DELETE FROM lists WHERE id = ?", (list_id,))
    return int(members)


# --- the demo data -------------------------------------------------------------------------

PROMO_LIST = "Spring 2025 Promo"  # a finished campaign's list, safe to erase in the demo
PROMO_MEMBERS = 5
DEMO_CONTENT = 10  # items; the first three expired before the anchor


def seed_demo_content(store: Store, db: sqlite3.Connection, now: datetime) -> None:
    """The demo's content library and its ``Spring 2025 Promo`` list, whose members are on no
    other list (so the other lists' exports do not change)."""
    for number in range(1, DEMO_CONTENT + 1):
        expired = number <= 3
        item: dict[str, Any] = {
            "url": f"https://example.com/articles/{number:03d}",
            "title": f"Demo article {number}",
            "tags": ["demo", "sale" if number % 2 else "news"],
            "date": (now - timedelta(days=10 * number)).strftime("%Y-%m-%d"),
            "vars": {"section": "sale" if number % 2 else "news"},
        }
        if number <= 5:  # three expired, two still running
            ends = now - timedelta(days=number) if expired else now + timedelta(days=30)
            item["expire_date"] = ends.strftime("%Y-%m-%d")
        upsert_content(db, item, now)
    promo_id = store.list_id(db, PROMO_LIST, create=True)
    promo = [f"promo{number:03d}@example.com" for number in range(1, PROMO_MEMBERS + 1)]
    store.add_users(db, promo_id, [user_row(email, rfc2822(now)) for email in promo])
