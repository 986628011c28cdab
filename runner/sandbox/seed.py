"""What a sandbox starts with: the demo data (``--seed demo``), a seed file (``--seed FILE``,
runner/sandbox/seedfile.py), and big lists for benchmarks, inserted in batches.

Both are reproducible: the times are placed around an anchor, today 00:00 UTC (kept in the
store, see ``Store.now``), and the ids are derived, not drawn, so two sandboxes seeded the
same day export the same bytes. The demo draws from ``random.Random(0)``. Its lists:

- ``Main Newsletter``: 300 users (``user001@example.com`` … ``user300@example.com``)
- ``Engaged``: the 120 most engaged of them
- ``VIP``: 25 users with purchases
- ``Empty List``: no users
- ``Spring 2025 Promo``: 5 users of its own (``promo001@example.com`` …), safe to erase

Content: 10 items (``https://example.com/articles/001`` …), the first three expired.

Purchases: 200 over the 90 days before today (extid ``demo-0001`` …). Scheduled sends: 40
in the 14 days from tomorrow on (every one still ahead all day). Every user has vars
``userId``, ``user_type`` and ``plan``. Campaigns: three sent ones with their recipients'
opens and clicks (runner.sandbox.blastseed.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta

from runner.sandbox.blastseed import insert_seed_blasts, seed_demo_blasts
from runner.sandbox.contentjobs import seed_demo_content
from runner.sandbox.imports import purchase_row
from runner.sandbox.seedfile import DEMO, SeedData, load_seed_file, today_anchor
from runner.sandbox.store import (
    Store,
    csv_cell,
    derived_id,
    rfc2822,
    update_purchase_fields,
    user_row,
)

DEMO_LISTS = ("Main Newsletter", "Engaged", "VIP", "Empty List")
DEMO_USERS = 300
DEMO_PURCHASES = 200
DEMO_SCHEDULED_SENDS = 40
ENGAGEMENTS = ("engaged", "active", "passive", "disengaged", "dormant", "new")
CITIES = (
    ("New York", "NY", "US", "10001"),
    ("San Francisco", "CA", "US", "94105"),
    ("Chicago", "IL", "US", "60601"),
    ("London", "", "GB", "EC1A"),
    ("Toronto", "ON", "CA", "M5H"),
)
DEVICES = ("desktop", "mobile", "tablet")
PRODUCTS = (
    ("2005", "T-Shirts in Black", 4000),
    ("SKU1002", "Women's Shoes in Black and White", 25000),
    ("SKU1001", "Men's Shoes in Black", 10000),
    ("SKU2001", "Rain Jacket", 12900),
)
TEMPLATES = ("Welcome", "Abandoned Cart", "Order Shipped")

Seed = str | SeedData  # "demo", or a checked seed file


def resolve_seed(seed: str | os.PathLike[str] | SeedData | None) -> Seed | None:
    """``"demo"``, None and loaded data as they are; anything else is a seed file's path,
    read and checked now (SeedFileError), before a sandbox starts."""
    if seed is None or isinstance(seed, SeedData) or seed == DEMO:
        return seed
    return load_seed_file(seed)


def is_empty(store: Store) -> bool:
    with store.connect() as db:
        return db.execute("SELECT count(*) FROM lists").fetchone()[0] == 0


def seed(store: Store, source: Seed) -> bool:
    """Load the demo or a seed file into an empty store; False (nothing loaded) when the store
    already holds data: a kept ``--data`` directory stays as it was."""
    if store.anchor is not None or not is_empty(store):
        return False
    if isinstance(source, SeedData):
        seed_file(store, source)
    elif source == DEMO:
        seed_demo(store)
    else:
        raise ValueError(f"unknown seed {source!r}: give 'demo' or a seed file's path")
    return True


def seed_file(store: Store, data: SeedData) -> None:
    """A checked seed file's lists, users, purchases, scheduled sends and campaigns, in one
    transaction."""
    rows = {
        user.email: user_row(
            user.email, rfc2822(user.signup or data.anchor), vars=json.dumps(user.vars)
        )
        for user in data.users
    }
    with store.transaction() as db:
        store.set_anchor(db, data.name, data.anchor)
        store.add_users(db, None, rows.values())  # every profile, on a list or not
        for name in data.lists:
            list_id = store.list_id(db, name, create=True)
            members = [rows[user.email] for user in data.users if name in user.lists]
            store.add_users(db, list_id, members)
        _insert_purchases(db, [purchase_row(p, moment) for p, moment in data.purchases])
        update_purchase_fields(db, sorted({p["email"].strip().lower() for p, _ in data.purchases}))
        _insert_scheduled_sends(
            db,
            [
                (
                    derived_id("send", index, send.template, send.email, send.send_time),
                    send.template,
                    send.email,
                    send.send_time,
                )
                for index, send in enumerate(data.scheduled_sends)
            ],
        )
        insert_seed_blasts(db, data.blasts)


def seed_demo(store: Store, anchor: datetime | None = None) -> None:
    """The demo data set, its times around ``anchor`` (default: today 00:00 UTC)."""
    rng = random.Random(0)
    now = anchor or today_anchor()
    users = list(_demo_users(rng, now))
    with store.transaction() as db:
        store.set_anchor(db, DEMO, now)
        ids = {name: store.list_id(db, name, create=True) for name in DEMO_LISTS}
        store.add_users(db, ids["Main Newsletter"] or 0, users)
        engaged = sorted(users, key=lambda user: -int(str(user["opens"])))[:120]
        store.add_users(db, ids["Engaged"] or 0, engaged)
        store.add_users(db, ids["VIP"] or 0, users[:25])
        _insert_purchases(db, list(_demo_purchases(rng, now)))
        update_purchase_fields(db, [str(user["email"]) for user in users[:25]])
        _insert_scheduled_sends(db, list(_demo_scheduled_sends(rng, now)))
        seed_demo_content(store, db, now)
        seed_demo_blasts(db, now)


def _demo_users(rng: random.Random, now: datetime) -> Iterator[dict[str, object]]:
    for number in range(1, DEMO_USERS + 1):
        joined = now - timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86399))
        opens = rng.randint(0, 200)
        city, state, country, zip_code = rng.choice(CITIES)
        last_open = now - timedelta(days=rng.randint(0, 60)) if opens else None
        yield user_row(
            f"user{number:03d}@example.com",
            rfc2822(joined),
            engagement=rng.choice(ENGAGEMENTS),
            opens=opens,
            clicks=rng.randint(0, opens),
            pageviews=rng.randint(0, 500),
            last_open=rfc2822(last_open) if last_open else "",
            geolocation_city=city,
            geolocation_state=state,
            geolocation_country=country,
            geolocation_zip=zip_code,
            lifetime_message=rng.randint(0, 400),
            top_device=rng.choice(DEVICES),
            vars=json.dumps(
                {
                    "userId": number,
                    "user_type": rng.choice(("free", "trial", "paid")),
                    "plan": rng.choice(("basic", "plus", "pro")),
                }
            ),
        )


def _demo_purchases(rng: random.Random, now: datetime) -> Iterator[tuple[object, ...]]:
    for number in range(1, DEMO_PURCHASES + 1):
        email = f"user{rng.randint(1, 25):03d}@example.com"
        # Before ``now`` (today 00:00): yesterday back to 90 days ago.
        moment = now - timedelta(days=rng.randint(0, 89), seconds=rng.randint(1, 86399))
        items = [(*rng.choice(PRODUCTS), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        data = {
            "email": email,
            "date": moment.date().isoformat(),
            "purchase_keys": {"extid": f"demo-{number:04d}"},
            "items": [
                {"qty": q, "id": i, "title": t, "price": p, "url": f"https://example.com/p/{i}"}
                for i, t, p, q in items
            ],
        }
        yield purchase_row(data, moment)


def _demo_scheduled_sends(
    rng: random.Random, now: datetime
) -> Iterator[tuple[str, str, str, datetime]]:
    for _ in range(DEMO_SCHEDULED_SENDS):
        email = f"user{rng.randint(1, DEMO_USERS):03d}@example.com"
        # From tomorrow on: an export of upcoming sends lists all of them, all day long.
        moment = now + timedelta(days=rng.randint(1, 14), seconds=rng.randint(0, 86399))
        yield f"{rng.getrandbits(96):024x}", rng.choice(TEMPLATES), email, moment


def _insert_purchases(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    db.executemany(
        "INSERT INTO purchases (extid, email, md5, date, date_key, items, urls, price, channel,"
        " unit_prices, quantities, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def _insert_scheduled_sends(
    db: sqlite3.Connection, sends: list[tuple[str, str, str, datetime]]
) -> None:
    """``(send_id, template, email, send time)`` rows."""
    db.executemany(
        "INSERT INTO scheduled_sends (send_id, template, email, md5, send_time, send_ts)"
        " VALUES (?,?,?,?,?,?)",
        [
            (send_id, template, email, hashlib.md5(email.encode()).hexdigest(), rfc2822(moment),
             moment.timestamp())
            for send_id, template, email, moment in sends
        ],
    )  # fmt: skip


def seed_big_list(store: Store, name: str, count: int, prefix: str = "bench") -> None:
    """``count`` new users in a new list ``name`` (benchmarks), fast.

    Rows are built as tuples with ids that increase (so every index grows at its end) and
    inserted in batches; the list signups come from one INSERT … SELECT.
    """
    now = today_anchor()
    dates = [csv_cell(rfc2822(now - timedelta(days=day))) for day in range(0, 365, 7)]
    cities = [csv_cell(city[0]) for city in CITIES]
    plans = ("basic", "pro", "plus")
    id_prefix = derived_id("big list", name)[:8]  # ids differ from list to list, not run to run
    # ``lists`` is written with the row, so the membership trigger finds nothing to add and
    # the rows are never rewritten (a rewritten row moves; a moved table reads slower).
    columns = (
        "id, profile_id, email, md5, sha256, domain, engagement, profile_created_date, signup,"
        " opens, clicks, geolocation_city, vars, lists"
    )
    with store.transaction() as db:
        db.execute("PRAGMA cache_size = -65536")  # 64 MB while seeding (restored below)
        list_id = store.list_id(db, name, create=True)
        (first_id,) = db.execute("SELECT coalesce(max(id), 0) + 1 FROM users").fetchone()
        for start in range(0, count, 10_000):
            batch = []
            for number in range(start, min(count, start + 10_000)):
                email = f"{prefix}{number:07d}@example.com"
                data = email.encode()
                signup = dates[number % len(dates)]
                batch.append(
                    (
                        first_id + number,
                        f"{id_prefix}{first_id + number:016x}",
                        email,
                        hashlib.md5(data).hexdigest(),
                        hashlib.sha256(data).hexdigest(),
                        "example.com",
                        ENGAGEMENTS[number % len(ENGAGEMENTS)],
                        signup,
                        signup,
                        number % 97,
                        number % 13,
                        cities[number % len(cities)],
                        f'{{"userId": {number}, "plan": "{plans[number % 3]}"}}',
                        name,
                    )
                )
            db.executemany(f"INSERT INTO users ({columns}) VALUES ({', '.join('?' * 14)})", batch)
        db.execute(
            "INSERT INTO list_members (list_id, user_id, signup)"
            " SELECT ?, id, signup FROM users WHERE id >= ? AND id < ?",
            (list_id, first_id, first_id + count),
        )
        db.execute("PRAGMA cache_size = -2000")
