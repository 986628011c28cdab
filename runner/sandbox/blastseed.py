"""Campaigns (blasts) in a sandbox's data: a seed file's ``blasts:`` section
(``insert_seed_blasts``) and the demo's (``seed_demo_blasts``).

The demo's campaigns are sent to the demo lists before the anchor time:

- 24110101 ``Weekly Newsletter: Winter Picks``, to ``Main Newsletter``, 14 days ago
- 24110102 ``Weekly Newsletter: New Arrivals``, to ``Main Newsletter``, 7 days ago
- 24110103 ``VIP Early Access``, to ``VIP``, 3 days ago

Every member of the list at seeding time received it. Opens depend on the user's engagement
(about a third of the recipients open), about a quarter of the openers click one to three of
the campaign's links, and some clickers buy. The draws come from their own
``random.Random(0)``, so the rest of the demo (runner/sandbox/seed.py) is unchanged.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from runner.sandbox.seedfile import SeedBlast

# (blast_id, name, list, days before the anchor, hour sent)
DEMO_BLASTS: Final = (
    (24110101, "Weekly Newsletter: Winter Picks", "Main Newsletter", 14, 10),
    (24110102, "Weekly Newsletter: New Arrivals", "Main Newsletter", 7, 10),
    (24110103, "VIP Early Access", "VIP", 3, 15),
)
OPEN_CHANCE: Final = {
    "engaged": 0.65, "active": 0.5, "passive": 0.3, "new": 0.35, "disengaged": 0.1,
    "dormant": 0.03,
}  # fmt: skip
CLICK_CHANCE = 0.25  # of an opener
PURCHASE_CHANCE = 0.15  # of a clicker
LINKS: Final = ("shop", "sale", "new-arrivals", "blog", "account")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # as a real blast_query export writes times


def insert_seed_blasts(db: sqlite3.Connection, blasts: list[SeedBlast]) -> None:
    """A seed file's campaigns: every member of the list received it at ``send_time``; the
    openers opened an hour later, the clickers clicked five minutes after that (one link)."""
    for blast in blasts:
        sent = blast.send_time.astimezone(UTC) if blast.send_time.tzinfo else blast.send_time
        _insert_blast(db, blast.blast_id, blast.name, blast.list, sent)
        rows = []
        for user_id, email, device in _members(db, blast.list, "u.email"):
            opened = sent + timedelta(hours=1) if email in blast.opened else None
            clicked = opened + timedelta(minutes=5) if opened and email in blast.clicked else None
            link = f"https://example.com/c/{blast.blast_id}" if clicked else ""
            rows.append(
                (
                    blast.blast_id,
                    user_id,
                    sent.strftime(TIME_FORMAT),
                    _time(opened),
                    _time(clicked),
                    link,
                    _time(clicked),
                    "",
                    device if opened else "",
                )
            )
        _insert_recipients(db, rows)


def _time(moment: datetime | None) -> str:
    return moment.strftime(TIME_FORMAT) if moment else ""


def _insert_blast(
    db: sqlite3.Connection, blast_id: int, name: str, list_name: str, sent: datetime
) -> None:
    db.execute(
        "INSERT INTO blasts (blast_id, name, list, send_time) VALUES (?, ?, ?, ?)",
        (blast_id, name, list_name, sent.strftime(TIME_FORMAT)),
    )


def _members(db: sqlite3.Connection, list_name: str, column: str) -> list[tuple[int, str, str]]:
    """(user id, ``column``, top device) of the list's members."""
    return db.execute(
        f"SELECT u.id, {column}, u.top_device FROM list_members m"
        " JOIN lists l ON l.id = m.list_id JOIN users u ON u.id = m.user_id"
        " WHERE l.name = ? ORDER BY u.id",
        (list_name,),
    ).fetchall()


def _insert_recipients(db: sqlite3.Connection, rows: Sequence[Sequence[object]]) -> None:
    db.executemany(
        "INSERT INTO blast_recipients (blast_id, user_id, send_time, open_time, click_time,"
        " first_ten_clicks, first_ten_clicks_time, purchase_time, device)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        rows,
    )


def seed_demo_blasts(db: sqlite3.Connection, now: datetime) -> None:
    """The demo campaigns and their recipients (inside the demo's seeding transaction)."""
    rng = random.Random(0)
    for blast_id, name, list_name, days, hour in DEMO_BLASTS:
        sent = now - timedelta(days=days) + timedelta(hours=hour)
        _insert_blast(db, blast_id, name, list_name, sent)
        rows = [
            (blast_id, user_id, *_activity(rng, blast_id, sent, engagement, device))
            for user_id, engagement, device in _members(db, list_name, "u.engagement")
        ]
        _insert_recipients(db, rows)


def _activity(
    rng: random.Random, blast_id: int, sent: datetime, engagement: str, device: str
) -> tuple[str, str, str, str, str, str, str]:
    """send_time, open_time, click_time, first_ten_clicks, first_ten_clicks_time,
    purchase_time, device: '' for what the recipient did not do."""
    send_time = (sent + timedelta(seconds=rng.randint(0, 1800))).strftime(TIME_FORMAT)
    if rng.random() >= OPEN_CHANCE.get(engagement, 0.3):
        return send_time, "", "", "", "", "", ""
    opened = sent + timedelta(minutes=rng.randint(5, 2 * 24 * 60))
    if rng.random() >= CLICK_CHANCE:
        return send_time, opened.strftime(TIME_FORMAT), "", "", "", "", device
    clicks = [opened + timedelta(seconds=rng.randint(10, 600)) for _ in range(rng.randint(1, 3))]
    clicks.sort()
    links = [f"https://example.com/c/{blast_id}/{rng.choice(LINKS)}" for _ in clicks]
    bought = ""
    if rng.random() < PURCHASE_CHANCE:
        bought = (clicks[-1] + timedelta(minutes=rng.randint(2, 90))).strftime(TIME_FORMAT)
    return (
        send_time,
        opened.strftime(TIME_FORMAT),
        clicks[0].strftime(TIME_FORMAT),
        " ".join(links),
        "|".join(click.strftime(TIME_FORMAT) for click in clicks),
        bought,
        device,
    )
