"""The sandbox's data in SQLite: lists, users, signups, purchases, sends, content, jobs.

Columns of ``users`` are named after the export_list_data ``fields`` values and exist only
to be exported, so they hold what the CSV file will hold: every text column (and
``list_members.signup``) is stored as a CSV cell, quoted where needed (dates are RFC 2822 text
with a comma, so they are stored quoted); hashes of the lower-cased email are computed once,
at insert. Generated columns keep the default export's line in a few ready pieces, so an
export is one short SQL concatenation per row, written straight to the file.

Data is reproducible: a profile id is derived from the address (the same address always gets
the same id, as one account keeps one profile per address), and a seeded store keeps the
seed's anchor time (``Store.now``), which imports use as the signup time of new users. Two
sandboxes seeded the same day hold, and export, the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    create_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    profile_id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    domain TEXT NOT NULL,
    engagement TEXT NOT NULL DEFAULT 'new',
    profile_created_date TEXT NOT NULL,
    signup TEXT NOT NULL,
    opens INTEGER NOT NULL DEFAULT 0,
    clicks INTEGER NOT NULL DEFAULT 0,
    pageviews INTEGER NOT NULL DEFAULT 0,
    last_open TEXT NOT NULL DEFAULT '',
    last_click TEXT NOT NULL DEFAULT '',
    last_pageview TEXT NOT NULL DEFAULT '',
    optout_time TEXT NOT NULL DEFAULT '',
    geolocation_city TEXT NOT NULL DEFAULT '',
    geolocation_state TEXT NOT NULL DEFAULT '',
    geolocation_country TEXT NOT NULL DEFAULT '',
    geolocation_zip TEXT NOT NULL DEFAULT '',
    lifetime_message INTEGER NOT NULL DEFAULT 0,
    first_purchase_time TEXT NOT NULL DEFAULT '',
    purchase_count INTEGER NOT NULL DEFAULT 0,
    purchase_price INTEGER NOT NULL DEFAULT 0,
    purchase_incomplete INTEGER NOT NULL DEFAULT 0,
    last_purchase_time TEXT NOT NULL DEFAULT '',
    largest_purchase_item_price INTEGER NOT NULL DEFAULT 0,
    top_device TEXT NOT NULL DEFAULT '',
    email_status TEXT NOT NULL DEFAULT 'valid',
    email_status_time TEXT NOT NULL DEFAULT '',
    email_message TEXT NOT NULL DEFAULT '',
    vars TEXT NOT NULL DEFAULT '{}',
    -- Names of the user's lists separated by char(31), kept by the trigger below.
    lists TEXT NOT NULL DEFAULT '',
    -- The default export's line is made of these pieces (computed by SQLite on every write):
    -- profile_id, hash, frag_head, lists_cell, frag_mid, list signup, frag_tail, vars.
    lists_cell TEXT GENERATED ALWAYS AS (iif(
        instr(lists, char(31)) OR instr(lists, ',') OR instr(lists, '"')
            OR instr(lists, char(10)) OR instr(lists, char(13)),
        '"' || replace(replace(lists, '"', '""'), char(31), ',') || '"',
        lists
    )) STORED,
    frag_head TEXT GENERATED ALWAYS AS (domain || ',' || engagement) STORED,
    frag_mid TEXT GENERATED ALWAYS AS (
        profile_created_date || ',' || signup || ',' || opens || ',' || clicks || ','
        || pageviews || ',' || last_open || ',' || last_click || ',' || last_pageview || ','
        || optout_time
    ) STORED,
    frag_tail TEXT GENERATED ALWAYS AS (
        geolocation_city || ',' || geolocation_state || ',' || geolocation_country || ','
        || geolocation_zip || ',' || lifetime_message || ',' || first_purchase_time || ','
        || purchase_count || ',' || purchase_price || ',' || purchase_incomplete || ','
        || last_purchase_time || ',' || largest_purchase_item_price || ',' || top_device || ','
        || email_status
    ) STORED
);
CREATE TABLE IF NOT EXISTS list_members (
    list_id INTEGER NOT NULL REFERENCES lists(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    signup TEXT NOT NULL,
    PRIMARY KEY (list_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS list_members_user ON list_members(user_id);
-- Var names of a list's members (the default export's var columns), kept by the trigger.
CREATE TABLE IF NOT EXISTS list_var_keys (
    list_id INTEGER NOT NULL REFERENCES lists(id),
    key TEXT NOT NULL,
    PRIMARY KEY (list_id, key)
) WITHOUT ROWID;
-- A new membership adds the list's name to the user's (unless already there, as when a bulk
-- load wrote it with the row) and the user's var names to the list's.
CREATE TRIGGER IF NOT EXISTS list_members_names AFTER INSERT ON list_members BEGIN
    UPDATE users SET lists = iif(lists = '', l.name, lists || char(31) || l.name)
    FROM (SELECT name FROM lists WHERE id = NEW.list_id) AS l
    WHERE users.id = NEW.user_id
        AND instr(char(31) || lists || char(31), char(31) || l.name || char(31)) = 0;
    INSERT OR IGNORE INTO list_var_keys (list_id, key)
    SELECT NEW.list_id, j.key FROM users u, json_each(u.vars) j WHERE u.id = NEW.user_id;
END;
CREATE TABLE IF NOT EXISTS purchases (
    id INTEGER PRIMARY KEY,
    extid TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    md5 TEXT NOT NULL,
    date TEXT NOT NULL,
    date_key INTEGER NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    items TEXT NOT NULL,
    urls TEXT NOT NULL,
    price INTEGER NOT NULL,
    channel TEXT NOT NULL DEFAULT 'online',
    unit_prices TEXT NOT NULL,
    quantities TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS purchases_date ON purchases(date_key);
CREATE INDEX IF NOT EXISTS purchases_email ON purchases(email);
CREATE TABLE IF NOT EXISTS scheduled_sends (
    id INTEGER PRIMARY KEY,
    send_id TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL,
    email TEXT NOT NULL,
    md5 TEXT NOT NULL,
    send_time TEXT NOT NULL,
    send_ts REAL NOT NULL
);
-- What the sandbox was seeded with, and when (its anchor time): see ``Store.now``.
CREATE TABLE IF NOT EXISTS sandbox_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL,
    upload_path TEXT,
    create_time REAL NOT NULL,
    start_time REAL,
    end_time REAL,
    result TEXT NOT NULL DEFAULT '{}',
    error_message TEXT,
    export_path TEXT,
    export_token TEXT UNIQUE,
    export_expires REAL,
    fault TEXT
);
-- The content library (content_update, delete_content: runner/sandbox/contentjobs.py), one
-- item per url. ``data`` is the item with every field written so far; the other columns are
-- read from it at each write (dates as RFC 2822 text; date_key and expire_ts for deletes).
CREATE TABLE IF NOT EXISTS content (
    url TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL,
    date_key INTEGER NOT NULL,
    expire_date TEXT NOT NULL DEFAULT '',
    expire_ts REAL,
    vars TEXT NOT NULL DEFAULT '{}',
    data TEXT NOT NULL
);
-- Campaigns (blasts) and their recipients, for the campaign jobs (runner/sandbox/blasts.py).
-- blast_id is a number, as Sailthru's are. Times are ``YYYY-MM-DD HH:MM:SS`` UTC, as a
-- blast_query export writes them; '' when the recipient did not open/click/purchase.
CREATE TABLE IF NOT EXISTS blasts (
    blast_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    list TEXT NOT NULL,
    send_time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS blast_recipients (
    blast_id INTEGER NOT NULL REFERENCES blasts(blast_id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    send_time TEXT NOT NULL,
    open_time TEXT NOT NULL DEFAULT '',
    click_time TEXT NOT NULL DEFAULT '',
    first_ten_clicks TEXT NOT NULL DEFAULT '',
    first_ten_clicks_time TEXT NOT NULL DEFAULT '',
    purchase_time TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (blast_id, user_id)
) WITHOUT ROWID;
"""


def rfc2822(moment: datetime | float | None = None) -> str:
    """``Wed, 07 Dec 2016 15:44:09 -0000`` (RFC 2822, as the API writes times)."""
    if moment is None:
        moment = datetime.now(UTC)
    elif not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return format_datetime(moment)


def new_object_id() -> str:
    """A random 24-hex-digit id like the API's job ids."""
    return secrets.token_hex(12)


def derived_id(*parts: object) -> str:
    """A 24-hex-digit id that is a function of ``parts`` (the same parts, the same id)."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def profile_id(email: str) -> str:
    """The profile id of an address (lower-cased): the same in every sandbox and every run."""
    return derived_id("profile", email.strip().lower())


# Text columns of ``users`` that hold CSV cells (see the module's docstring).
CELL_COLUMNS = frozenset(
    {
        "domain", "engagement", "profile_created_date", "signup", "last_open", "last_click",
        "last_pageview", "optout_time", "geolocation_city", "geolocation_state",
        "geolocation_country", "geolocation_zip", "first_purchase_time", "last_purchase_time",
        "top_device", "email_status", "email_status_time", "email_message",
    }
)  # fmt: skip
_SPECIAL = re.compile(r'[,"\r\n]')


def csv_cell(value: object) -> str:
    """``value`` as one CSV cell: quoted (quotes doubled) when it holds , " CR or LF."""
    text = "" if value is None else str(value)
    if _SPECIAL.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def user_row(email: str, signup: str, **columns: object) -> dict[str, object]:
    """The column values of a new user (email lower-cased, hashes computed once).

    ``signup`` and the text ``columns`` are plain values; they are stored as CSV cells.
    """
    email = email.strip().lower()
    data = email.encode("utf-8")
    row: dict[str, object] = {
        "profile_id": profile_id(email),
        "email": email,
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "domain": email.rpartition("@")[2],
        "profile_created_date": signup,
        "signup": signup,
        **columns,
    }
    for column in CELL_COLUMNS.intersection(row):
        row[column] = csv_cell(row[column])
    return row


def update_purchase_fields(db: sqlite3.Connection, emails: list[str]) -> None:
    """The purchase columns of these users' profiles, recomputed from their purchases."""
    db.executemany(
        "UPDATE users SET"
        " purchase_count = (SELECT count(*) FROM purchases p WHERE p.email = users.email),"
        " purchase_price = (SELECT coalesce(sum(price), 0) FROM purchases p"
        "  WHERE p.email = users.email),"
        " largest_purchase_item_price = (SELECT coalesce(max(json_extract(i.value, '$.price')),"
        "  0) FROM purchases p, json_each(p.data, '$.items') i WHERE p.email = users.email),"
        # Stored as CSV cells: an RFC 2822 date has a comma, so it is quoted.
        " first_purchase_time = coalesce((SELECT '\"' || date || '\"' FROM purchases p"
        "  WHERE p.email = users.email ORDER BY date_key, id LIMIT 1), ''),"
        " last_purchase_time = coalesce((SELECT '\"' || date || '\"' FROM purchases p"
        "  WHERE p.email = users.email ORDER BY date_key DESC, id DESC LIMIT 1), '')"
        " WHERE email = ?",
        [(email,) for email in emails],
    )


class StoreClosed(RuntimeError):
    """The sandbox stopped while a request or job still wanted its data."""


class Store:
    """One SQLite database file, used by many threads through a small connection pool."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with self.connect() as db:
            db.executescript(SCHEMA)
            row = db.execute("SELECT value FROM sandbox_meta WHERE key = 'anchor'").fetchone()
        self._anchor = datetime.fromisoformat(row[0]) if row else None

    def add_schema(self, schema: str) -> None:
        """A job kind's own tables (``JobKind.schema``): ``CREATE TABLE IF NOT EXISTS``."""
        with self.connect() as db:
            db.executescript(schema)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=120, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._all.append(db)
        return db

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use ``transaction`` for several writes."""
        if self._closed:
            raise StoreClosed("the sandbox store is closed")
        try:
            db = self._pool.get_nowait()
        except queue.Empty:
            db = self._open()
        try:
            yield db
        finally:
            if db.in_transaction:
                db.rollback()
            self._pool.put(db)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside BEGIN IMMEDIATE … COMMIT (rolled back on an exception)."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            connections, self._all = self._all, []
        for db in connections:
            db.close()

    # -- the clock of the data ------------------------------------------------------------
    @property
    def anchor(self) -> datetime | None:
        """The time the store was seeded from (None: never seeded)."""
        return self._anchor

    def set_anchor(self, db: sqlite3.Connection, seed: str, anchor: datetime) -> None:
        """Record what seeded the store and its anchor time (inside the seeding transaction)."""
        db.executemany(
            "INSERT OR REPLACE INTO sandbox_meta (key, value) VALUES (?, ?)",
            [("seed", seed), ("anchor", anchor.isoformat())],
        )
        self._anchor = anchor

    def now(self) -> datetime:
        """The time written into new data: the anchor of a seeded store, so that importing
        the same file gives the same rows on every run that day; the clock otherwise."""
        return self._anchor if self._anchor is not None else datetime.now(UTC)

    # -- lists and users --------------------------------------------------------------
    def list_id(self, db: sqlite3.Connection, name: str, create: bool = False) -> int | None:
        row = db.execute("SELECT id FROM lists WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        cursor = db.execute(
            "INSERT INTO lists (name, create_time) VALUES (?, ?)", (name, rfc2822(self.now()))
        )
        return int(cursor.lastrowid or 0)

    def add_users(
        self,
        db: sqlite3.Connection,
        list_id: int | None,
        users: Iterable[dict[str, object]],
        overwrite_signup: bool = False,
    ) -> int:
        """Insert users that are new, add every one to the list (None: to no list, a profile
        of its own); returns how many rows came."""
        count = 0
        batch: list[dict[str, object]] = []
        for user in users:
            batch.append(user)
            if len(batch) >= 5000:
                count += self._add_batch(db, list_id, batch, overwrite_signup)
                batch = []
        if batch:
            count += self._add_batch(db, list_id, batch, overwrite_signup)
        return count

    def _add_batch(
        self,
        db: sqlite3.Connection,
        list_id: int | None,
        batch: list[dict[str, object]],
        overwrite_signup: bool,
    ) -> int:
        by_columns: dict[tuple[str, ...], list[tuple[object, ...]]] = {}
        for user in batch:  # rows may set different columns; the others keep their defaults
            by_columns.setdefault(tuple(user), []).append(tuple(user.values()))
        for columns, values in by_columns.items():
            db.executemany(
                f"INSERT INTO users ({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(columns))}) ON CONFLICT(email) DO NOTHING",
                values,
            )
        # A profile made after its purchases were imported shows them too: the same export
        # whichever of the two imports ran first.
        emails = json.dumps([user["email"] for user in batch])
        bought = db.execute(
            "SELECT DISTINCT email FROM purchases WHERE email IN (SELECT value FROM json_each(?))",
            (emails,),
        ).fetchall()
        update_purchase_fields(db, [email for (email,) in bought])
        if list_id is None:
            return len(batch)
        if overwrite_signup:
            db.executemany(
                "UPDATE users SET signup = ? WHERE email = ?",
                [(user["signup"], user["email"]) for user in batch],
            )
        conflict = "DO UPDATE SET signup = excluded.signup" if overwrite_signup else "DO NOTHING"
        db.executemany(
            "INSERT INTO list_members (list_id, user_id, signup)"
            " SELECT ?, id, ? FROM users WHERE email = ?"
            f" ON CONFLICT(list_id, user_id) {conflict}",
            [(list_id, user["signup"], user["email"]) for user in batch],
        )
        return len(batch)
