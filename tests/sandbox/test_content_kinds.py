"""The sandbox's content_update, delete_content and list_erase, driven by the official
client: what they do to the account's data, and the errors they answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Sandbox
from runner.sandbox.contentjobs import PROMO_LIST
from tests.sandbox.conftest import poll


def query(sandbox: Sandbox, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3") as db:
        return db.execute(sql, args).fetchall()


def post(client: SailthruClient, payload: dict[str, Any]) -> dict[str, Any]:
    return client.api_post("job", payload).get_body()


def run(client: SailthruClient, payload: dict[str, Any], file: Path | None = None) -> dict:
    if file is None:
        body = post(client, payload)
    else:
        body = client.api_post("job", {**payload, "file": str(file)}, ["file"]).get_body()
    assert "job_id" in body, body
    return poll(client, body["job_id"])


def feed(tmp_path: Path, *items: dict[str, Any] | str) -> Path:
    path = tmp_path / "feed.jsonl"
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_demo_has_content_some_expired_and_a_promo_list(sandbox: Sandbox) -> None:
    assert query(sandbox, "SELECT count(*), count(expire_ts) FROM content") == [(10, 5)]
    expired = query(sandbox, "SELECT count(*) FROM content WHERE expire_ts < unixepoch()")
    assert expired == [(3,)]
    members = query(
        sandbox,
        "SELECT u.email, u.lists FROM list_members m JOIN lists l ON l.id = m.list_id"
        " JOIN users u ON u.id = m.user_id WHERE l.name = ? ORDER BY u.email",
        PROMO_LIST,
    )
    assert [email for email, _ in members][:2] == ["promo001@example.com", "promo002@example.com"]
    assert len(members) == 5 and {lists for _, lists in members} == {PROMO_LIST}


def test_content_update_creates_and_updates_items_by_url(
    sandbox: Sandbox, client: SailthruClient, tmp_path: Path
) -> None:
    done = run(
        client,
        {"job": "content_update"},
        feed(
            tmp_path,
            {"url": "https://example.com/articles/001", "inventory": 47},
            {"url": "https://example.com/new", "title": "New", "tags": ["a", "b"]},
            {"url": "https://example.com/new", "expire_date": "2030-01-31"},
        ),
    )
    assert (done["status"], done["name"]) == ("completed", "Content Update")
    rows = query(
        sandbox,
        "SELECT url, title, tags, date_key, expire_date, data FROM content WHERE url IN (?, ?)"
        " ORDER BY url",
        "https://example.com/articles/001",
        "https://example.com/new",
    )
    old, new = rows
    assert old[1] == "Demo article 1"  # a field the line did not give stays
    assert json.loads(old[5])["inventory"] == 47
    assert new[1:3] == ("New", "a,b")  # the second line for the url kept the first's fields
    assert new[4] == "Thu, 31 Jan 2030 00:00:00 +0000"
    anchor = query(sandbox, "SELECT value FROM sandbox_meta WHERE key = 'anchor'")[0][0]
    assert str(new[3]) == anchor[:10].replace("-", "")  # no date: published at the sandbox's now


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"url": "https://e.com/x", "price": "9"}, "Line 2: price: expected a whole number"),
        ({"title": "no url"}, "Line 2: id: add `id` (the page's URL) or `url`"),
        (
            {"id": "NO-SUCH-SKU", "key": "sku", "inventory": 1},
            "Line 2: no content item has sku 'NO-SUCH-SKU', and the sandbox cannot create one "
            "without its URL: add `url`, the page's address",
        ),
        ('{"url": "https://e.com/x",', "Line 2: not a JSON object of UTF-8 text"),
        ('["https://e.com/x"]', "Line 2: each line is one JSON object, a content item"),
    ],
)
def test_a_bad_content_line_fails_the_job_naming_it_and_writes_nothing(
    sandbox: Sandbox, client: SailthruClient, tmp_path: Path, line: Any, message: str
) -> None:
    done = run(
        client, {"job": "content_update"}, feed(tmp_path, {"url": "https://example.com/fine"}, line)
    )
    assert done["status"] == "error"
    assert message in json.dumps(done)
    assert query(
        sandbox, "SELECT count(*) FROM content WHERE url = 'https://example.com/fine'"
    ) == [(0,)]


def stored(sandbox: Sandbox, url: str) -> dict[str, Any] | None:
    rows = query(sandbox, "SELECT data FROM content WHERE url = ?", url)
    return json.loads(rows[0][0]) if rows else None


def test_content_update_names_items_by_id_key_or_url(
    sandbox: Sandbox, client: SailthruClient, tmp_path: Path
) -> None:
    """`id` is the url unless `key: sku`; a sku line updates the item with that sku, and
    creates one only with its url (as the content API requires to create an item)."""
    bottle = "https://example.com/products/bottle"
    done = run(
        client,
        {"job": "content_update"},
        feed(
            tmp_path,
            {"id": "https://example.com/articles/002", "key": "url", "title": "By id"},
            {"id": "WB-1", "key": "sku", "url": bottle, "title": "Bottle", "inventory": 5},
            {"id": "WB-1", "key": "sku", "inventory": 4},  # the item the line above created
            {"url": bottle, "price": 2500},  # the legacy `url` names the same item
        ),
    )
    assert done["status"] == "completed", done
    assert stored(sandbox, "https://example.com/articles/002")["title"] == "By id"
    assert stored(sandbox, bottle) == {
        "url": bottle, "sku": "WB-1", "title": "Bottle", "inventory": 4, "price": 2500
    }  # fmt: skip
    # a later job finds the item by its sku; a url on the line moves it
    moved = "https://example.com/products/bottle-2"
    again = run(
        client,
        {"job": "content_update"},
        feed(tmp_path, {"id": "WB-1", "key": "sku", "url": moved, "inventory": 3}),
    )
    assert again["status"] == "completed", again
    assert stored(sandbox, bottle) is None
    assert stored(sandbox, moved) == {
        "url": moved, "sku": "WB-1", "title": "Bottle", "inventory": 3, "price": 2500
    }  # fmt: skip


def test_content_update_without_a_file_is_the_pages_error(client: SailthruClient) -> None:
    assert post(client, {"job": "content_update"}) == {
        "error": 99,
        "errormsg": "File Parameter is required",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Missing required parameter: expired_only"),
        ({"expired_only": "yes"}, "Invalid expired_only: use true or false"),
        ({"expired_only": 2}, "Invalid expired_only: use true or false"),
        (
            {"expired_only": False, "start_date": 20260101},
            "Missing required parameter: start_date,end_date",
        ),
        (
            {"expired_only": True, "start_date": "2026-01-01", "end_date": 20260131},
            "Invalid start_date/end_date format",
        ),
        (
            {"expired_only": True, "start_date": 20260131, "end_date": 20260101},
            "Invalid date range. Start Date cannot be later than End Date",
        ),
    ],
)
def test_delete_content_refuses_an_unclear_selection(
    sandbox: Sandbox, client: SailthruClient, params: dict[str, Any], message: str
) -> None:
    answer = post(client, {"job": "delete_content", **params})
    assert answer == {"error": 99, "errormsg": message}
    assert query(sandbox, "SELECT count(*) FROM content") == [(10,)]


def test_delete_content_expired_only_leaves_the_rest(
    sandbox: Sandbox, client: SailthruClient
) -> None:
    done = run(client, {"job": "delete_content", "expired_only": True})
    assert (done["status"], done["deleted_count"]) == ("completed", 3)
    assert query(sandbox, "SELECT count(*) FROM content") == [(7,)]
    assert query(sandbox, "SELECT count(*) FROM content WHERE expire_ts < unixepoch()") == [(0,)]


def test_delete_content_all_within_a_publish_date_range(
    sandbox: Sandbox, client: SailthruClient
) -> None:
    keys = [key for (key,) in query(sandbox, "SELECT date_key FROM content ORDER BY date_key")]
    start, end = keys[2], keys[5]  # four items, expired or not
    done = run(
        client, {"job": "delete_content", "expired_only": 0, "start_date": start, "end_date": end}
    )
    assert done["deleted_count"] == 4
    left = [key for (key,) in query(sandbox, "SELECT date_key FROM content ORDER BY date_key")]
    assert left == keys[:2] + keys[6:]
    everything = run(client, {"job": "delete_content", "expired_only": False})
    assert everything["deleted_count"] == 6
    assert query(sandbox, "SELECT count(*) FROM content") == [(0,)]


def test_list_erase_removes_lists_and_memberships_but_not_users(
    sandbox: Sandbox, client: SailthruClient
) -> None:
    # A list whose members are on other lists too: their other lists stay in `lists`.
    imported = run(client, {"job": "import", "list": "Tmp", "emails": "user001@example.com"})
    assert imported["status"] == "completed"
    done = run(client, {"job": "list_erase", "lists": [PROMO_LIST, "Tmp", "No Such List"]})
    assert (done["status"], done["name"]) == ("completed", "Bulk List Erase: 3 requested")
    assert done["erased_lists"] == [PROMO_LIST, "Tmp"]
    assert done["lists_not_found"] == ["No Such List"]
    names = {name for (name,) in query(sandbox, "SELECT name FROM lists")}
    assert names == {"Main Newsletter", "Engaged", "VIP", "Empty List"}
    assert query(sandbox, "SELECT count(*) FROM users WHERE email LIKE 'promo%'") == [(5,)]
    assert query(sandbox, "SELECT lists FROM users WHERE email LIKE 'promo%' LIMIT 1") == [("",)]
    [(lists,)] = query(sandbox, "SELECT lists FROM users WHERE email = 'user001@example.com'")
    assert "Tmp" not in lists.split("\x1f") and "Main Newsletter" in lists.split("\x1f")
    orphans = query(
        sandbox, "SELECT count(*) FROM list_members WHERE list_id NOT IN (SELECT id FROM lists)"
    )
    assert orphans == [(0,)]


def test_list_erase_refuses_a_text_or_no_lists(client: SailthruClient) -> None:
    assert post(client, {"job": "list_erase"}) == {
        "error": 99,
        "errormsg": "Missing required parameter: lists",
    }
    invalid = {"error": 99, "errormsg": "Invalid lists: an array of list names"}
    assert post(client, {"job": "list_erase", "lists": "Old Promo"}) == invalid
    assert post(client, {"job": "list_erase", "lists": [PROMO_LIST, " "]}) == invalid
    assert post(client, {"job": "list_erase", "lists": [{"name": PROMO_LIST}]}) == invalid
