"""Seed files (``--seed FILE``) and reproducible data: what a seeded sandbox holds and exports,
and one line per problem, with its file:line, for a bad seed file."""

from __future__ import annotations

import csv
import json
import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.problems import SeedFileError
from runner.sandbox import Sandbox
from runner.sandbox.seedfile import load_seed_file
from runner.sandbox.store import profile_id
from tests.sandbox.conftest import poll

REPO = Path(__file__).resolve().parents[2]
ANCHOR = datetime(2026, 3, 10, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def export(sandbox: Sandbox, payload: dict[str, Any]) -> str:
    """Run a job on the sandbox with the official client; the export's CSV text."""
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job = client.api_post("job", payload).get_body()
    assert "job_id" in job, job
    done = poll(client, job["job_id"])
    assert done["status"] == "completed", done
    if "export_url" not in done:
        return ""
    return requests.get(done["export_url"], timeout=30).text


def last_30_days() -> dict[str, str]:
    today = datetime.now(UTC)
    start = (today - timedelta(days=30)).strftime("%Y%m%d")
    return {"job": "export_purchase_log", "start_date": start, "end_date": today.strftime("%Y%m%d")}


def test_a_yaml_seed_gives_lists_users_vars_purchases_and_sends(sandbox_factory, tmp_path) -> None:
    seed = write(
        tmp_path,
        "seed.yaml",
        """
        lists: [Weekly Digest, Win-back]
        users:
          - {email: Ann@Example.com, lists: [Weekly Digest], vars: {plan: pro, points: 12}}
          - {email: bob@example.com, lists: Customers, signup_date: 2025-11-02}
          - {email: cy@example.com}
        purchases:
          - email: cy@example.com
            date: -1d
            purchase_keys: {extid: o-1}
            items: [{id: s1, title: Shoes, price: 8900, qty: 2, url: "https://s.example/1"}]
        scheduled_sends:
          - {template: Welcome, email: ann@example.com, send_time: +1d9h}
          - {template: Gone, email: bob@example.com, send_time: "2020-01-01T00:00:00Z"}
        """,
    )
    sandbox = sandbox_factory(seed=seed)
    assert sandbox.seeded
    digest = export(sandbox, {"job": "export_list_data", "list": "Weekly Digest",
                              "fields": {"vars": 1}})  # fmt: skip
    assert digest.splitlines() == [
        "Profile Id,Email Hash,plan,points",
        f"{profile_id('ann@example.com')},{_md5('ann@example.com')},pro,12",
    ]
    customers = export(sandbox, {"job": "export_list_data", "list": "Customers",
                                 "fields": {"signup": 1}})  # fmt: skip
    assert customers.splitlines()[1].endswith(',"Sun, 02 Nov 2025 00:00:00 +0000"')
    empty = export(sandbox, {"job": "export_list_data", "list": "Win-back"})
    assert len(empty.splitlines()) == 1  # the list exists, with nobody on it
    purchases = export(sandbox, last_30_days())
    assert [row[2] for row in csv.reader(purchases.splitlines()[1:])] == ["o-1"]
    sends = export(sandbox, {"job": "export_scheduled_sends"}).splitlines()
    assert len(sends) == 2 and ",Welcome," in sends[1] and "09:00:00" in sends[1]  # past: gone


def test_a_seed_purchase_may_give_its_extid_at_the_top_level(sandbox_factory, tmp_path) -> None:
    """As the official Python client's purchase(..., extid=) sends it; pre-flight and the
    sandbox's purchase_import take it too."""
    item = '{id: s1, title: Mug, price: 1200, qty: 1, url: "https://s.example/1"}'
    seed = write(
        tmp_path,
        "seed.yaml",
        f"""
        purchases:
          - {{email: ann@example.com, date: -1d, extid: top-1, items: [{item}]}}
          - {{email: bob@example.com, date: -2d, extid: top-1, items: [{item}]}}
        """,
    )
    assert problems_of(seed) == [
        f"{seed}:3:48: purchases[1].extid: extid 'top-1' is already used at line 2; each"
        " purchase has its own"
    ]
    seed.write_text(seed.read_text().replace("extid: top-1, items", "extid: top-2, items", 1))
    purchases = export(sandbox_factory(seed=seed), last_30_days())
    assert sorted(row[2] for row in csv.reader(purchases.splitlines()[1:])) == ["top-1", "top-2"]


def test_a_users_csv_seeds_lists_and_vars(sandbox_factory, tmp_path) -> None:
    seed = write(
        tmp_path,
        "users.csv",
        """
        email,lists,first_name,plan
        ann@example.com,Weekly Digest|Customers,Ann,pro
        bob@example.com,Weekly Digest,"Bob, Jr.",
        """,
    )
    sandbox = sandbox_factory(seed=str(seed))
    digest = export(sandbox, {"job": "export_list_data", "list": "Weekly Digest",
                              "fields": {"lists": 1, "vars": 1}})  # fmt: skip
    assert digest.splitlines()[1:] == [
        f'{profile_id("ann@example.com")},{_md5("ann@example.com")},"Weekly Digest,Customers",'
        "Ann,pro",
        f'{profile_id("bob@example.com")},{_md5("bob@example.com")},Weekly Digest,"Bob, Jr.",',
    ]


def test_the_example_seed_files_load() -> None:
    yaml_seed = load_seed_file(REPO / "manifests/data/rehearsal-seed.yaml", anchor=ANCHOR)
    csv_seed = load_seed_file(REPO / "manifests/data/rehearsal-users.csv", anchor=ANCHOR)
    assert yaml_seed.lists == ["Weekly Digest", "Customers", "Win-back"]
    assert [user.email for user in csv_seed.users] == [user.email for user in yaml_seed.users]
    sends = [send.send_time for send in yaml_seed.scheduled_sends]
    assert sends[0] == datetime(2026, 3, 11, 9, tzinfo=UTC)  # +1d9h from the anchor


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SeedFileError) as caught:
        load_seed_file(path, anchor=ANCHOR)
    return [problem.render() for problem in caught.value.problems]


def test_every_problem_of_a_yaml_seed_is_one_line_with_its_position(tmp_path) -> None:
    seed = write(
        tmp_path,
        "bad.yaml",
        """
        lists: [Weekly Digest, ""]
        users:
          - {email: not-an-address, lists: [Weekly Digest]}
          - {email: ann@example.com, colour: red}
          - {email: ann@example.com}
          - {email: bob@example.com, signup_date: last tuesday}
        purchases:
          - email: ann@example.com
            date: "2026-01-01"
            purchase_keys: {extid: o-1}
            items: [{id: s1, title: Shoes, price: "89.00", qty: 1, url: "https://s.example/1"}]
        scheduled_sends:
          - {template: Welcome, email: ann@example.com}
        segments: []
        """,
    )
    file = str(seed)
    assert problems_of(seed) == [
        f"{file}:1:24: lists[1]: a list name is a non-empty text, got ''",
        f"{file}:3:13: users[0].email: expected an email address, got 'not-an-address'",
        f"{file}:4:30: users[1].colour: unknown key; an entry here has email, lists, vars,"
        " signup_date",
        f"{file}:5:5: users[2]: ann@example.com is already a user at line 4; give each address"
        " once, with all its lists",
        f"{file}:6:43: users[3].signup_date: not a date: write a date or time like 2026-12-24"
        " or 2026-12-24T09:00:00Z, or -3d / +1d9h",
        f"{file}:11:43: purchases[0].items[0].price: not a valid purchase: "
        + problems_message(seed),
        f"{file}:13:5: scheduled_sends[0]: send_time: write a date or time like 2026-12-24 or"
        " 2026-12-24T09:00:00Z, or -3d / +1d9h",
        f"{file}:14:1: segments: unknown section; a seed file has lists, users, purchases,"
        " scheduled_sends, blasts",
    ]


def problems_message(seed: Path) -> str:
    """The purchase checker's own words for the bad price (runner/preflight/purchase.py)."""
    from runner.preflight.purchase import PurchaseFormatError, parse_purchase_line

    line = {"email": "ann@example.com", "date": "2026-01-01", "purchase_keys": {"extid": "o-1"},
            "items": [{"id": "s1", "title": "Shoes", "price": "89.00", "qty": 1,
                       "url": "https://s.example/1"}]}  # fmt: skip
    with pytest.raises(PurchaseFormatError) as caught:
        parse_purchase_line(json.dumps(line).encode())
    return caught.value.problem.message


def test_every_problem_of_a_csv_seed_names_its_line(tmp_path) -> None:
    seed = write(
        tmp_path,
        "bad.csv",
        """
        email,lists,signup_date,plan
        ann@example.com,Digest,2026-01-01,pro
        nobody,Digest,,
        ann@example.com,Digest,,
        bob@example.com,Digest,someday,
        cy@example.com,Digest
        """,
    )
    file = str(seed)
    assert problems_of(seed) == [
        f"{file}:3:1: email: not an email address: 'nobody'",
        f"{file}:4:1: email: ann@example.com is already a user at line 2; give each address once",
        f"{file}:5:1: signup_date: not a date: write a date or time like 2026-12-24 or"
        " 2026-12-24T09:00:00Z, or -3d / +1d9h",
        f"{file}:6:1: 2 cells, but the header has 4 columns",
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.yaml", None, "cannot read the seed file: No such file or directory"),
        ("seed.json", "{}", "a seed file is YAML (.yaml, .yml) or CSV (.csv)"),
        ("empty.yaml", "", "the seed file is empty"),
        ("list.yaml", "- a\n", "a seed file is a mapping of lists, users"),
        ("tab.yaml", "lists:\n\t- a\n", "a tab character here"),
        ("no-email.csv", "address,lists\na@example.com,A\n", 'has an "email" column'),
        ("latin1.csv", b"email\ncaf\xe9@example.com\n", "not valid UTF-8"),
    ],
)
def test_a_seed_file_that_cannot_be_read_is_one_clear_problem(
    tmp_path: Path, name: str, text: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:") and message in problem


def test_a_bad_seed_file_stops_the_sandbox_before_it_starts(tmp_path) -> None:
    seed = write(tmp_path, "bad.yaml", "users: [{email: nope}]\n")
    with pytest.raises(SeedFileError):
        Sandbox(seed=seed, data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_kept_data_is_not_seeded_again(sandbox_factory, tmp_path) -> None:
    data = tmp_path / "data"
    first = sandbox_factory(seed="demo", data_dir=data)
    assert first.seeded
    first.stop()
    seed = write(tmp_path, "seed.yaml", "lists: [Mine]\n")
    again = sandbox_factory(seed=seed, data_dir=data)
    assert not again.seeded


def test_demo_data_and_imported_users_are_the_same_in_two_sandboxes(sandbox_factory) -> None:
    """Two demo sandboxes export the same bytes, and so do imports of the same addresses:
    derived profile ids, the seed's anchor as the import's signup time."""
    exports = []
    for _ in range(2):
        sandbox = sandbox_factory(seed="demo")
        export(sandbox, {"job": "import", "list": "Newcomers",
                         "emails": "new1@example.com,user001@example.com"})  # fmt: skip
        exports.append(
            [
                export(sandbox, {"job": "export_list_data", "list": "Main Newsletter"}),
                export(sandbox, {"job": "export_list_data", "list": "Newcomers"}),
                export(sandbox, {"job": "export_scheduled_sends"}),
                export(sandbox, last_30_days()),
            ]
        )
        sandbox.stop()
    assert exports[0] == exports[1]
    newcomers = exports[0][1].splitlines()
    assert len(newcomers) == 3
    midnight = datetime.now(UTC).strftime("%d %b %Y 00:00:00")  # the seed's anchor
    assert midnight in newcomers[1] or midnight in newcomers[2]
    sends = exports[0][2].splitlines()[1:]
    assert len(sends) == 40  # every one from tomorrow on: all still ahead


def _md5(email: str) -> str:
    import hashlib

    return hashlib.md5(email.encode()).hexdigest()


def test_a_profile_imported_after_its_purchases_shows_them(sandbox_factory, tmp_path) -> None:
    """The demo imports signups and their purchases at once: whichever job runs first, the
    export is the same."""
    sandbox = sandbox_factory(seed=None)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    purchases = tmp_path / "purchases.jsonl"
    line = {"email": "late@example.com", "date": "2026-01-02", "purchase_keys": {"extid": "o-9"},
            "items": [{"id": "s1", "title": "Shoes", "price": 8900, "qty": 2,
                       "url": "https://s.example/1"}]}  # fmt: skip
    purchases.write_text(json.dumps(line) + "\n")
    job = client.api_post("job", {"job": "purchase_import", "file": str(purchases)}, ["file"])
    assert poll(client, job.get_body()["job_id"])["status"] == "completed"
    export(sandbox, {"job": "import", "list": "Late", "emails": "late@example.com"})
    fields = {"purchase_count": 1, "purchase_price": 1, "first_purchase_time": 1}
    rows = export(sandbox, {"job": "export_list_data", "list": "Late", "fields": fields})
    assert rows.splitlines()[1].endswith(',"Fri, 02 Jan 2026 00:00:00 +0000",1,17800')


def test_the_readme_seed_examples_load(tmp_path) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Rehearse with your own data", 1)[1].split("\n## ", 1)[0]
    (yaml_text,) = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    (csv_text,) = re.findall(r"```csv\n(.*?)```", section, flags=re.DOTALL)
    yaml_seed = load_seed_file(write(tmp_path, "seed.yaml", yaml_text), anchor=ANCHOR)
    csv_seed = load_seed_file(write(tmp_path, "users.csv", textwrap.dedent(csv_text)))
    assert [user.email for user in yaml_seed.users] == ["ann@example.com", "dmitri@example.com"]
    assert yaml_seed.lists == ["Weekly Digest", "Win-back", "Customers"]
    assert len(yaml_seed.purchases) == len(yaml_seed.scheduled_sends) == 1
    assert csv_seed.users[0].vars == {"first_name": "Ann", "plan": "pro"}
    assert csv_seed.users[1].lists == ()
