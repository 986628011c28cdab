"""The job API page's own example payloads: each validates without a problem or a warning,
and the sandbox accepts each one (through the official ``sailthru-client``).

One example is left out on purpose: the "Required list" import example
(``{"job": "import", "list": "My List"}``) shows only the ``list`` parameter; the page's
own table refuses it (error 99 "One of the following parameters is required").
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sailthru.sailthru_client import SailthruClient

from runner.manifest.folders import validate_file
from runner.sandbox import Sandbox
from tests.sandbox.conftest import poll

# Each as the page writes it; a file example names a file this test writes beside it.
EXAMPLES: dict[str, dict[str, object]] = {
    "export-min": {"job": "export_list_data", "list": "example list"},
    "export-sha256-fields": {
        "job": "export_list_data",
        "list": "example list",
        "hash_algo": "sha256",
        "fields": {"geolocation_city": 1, "geolocation_zip": 1, "last_click": 1, "opens": 1},
    },
    "export-required-list": {"job": "export_list_data", "list": "MyUsers"},
    "export-fields-vars": {
        "job": "export_list_data",
        "list": "MyUsers",
        "fields": {"opens": 1, "vars": {"userId": 1, "user_type": 1}},
    },
    "purchase-log-call": {
        "job": "export_purchase_log",
        "start_date": 20160101,
        "end_date": 20160131,
    },
    "purchase-log-one-day": {
        "job": "export_purchase_log",
        "start_date": 20120131,
        "end_date": 20120131,
    },
    "scheduled-sends": {"job": "export_scheduled_sends"},
    "import-emails": {
        "job": "import",
        "list": "List 1",
        "emails": "user1@sailthru.com,user2@sailthru.com,user3@sailthru.com",
    },
    "import-file": {"job": "import", "list": "List 1", "file": "users.txt"},
    "import-url": {
        "job": "import",
        "list": "List 1",
        "url": "https://s3.amazonaws.com/sailthru-static/users.csv",
    },
    "import-required-emails": {
        "job": "import",
        "list": "My List",
        "emails": "example1@sailthru.com,example2@sailthru.com,example3@sailthru.com",
    },
    "import-required-file": {"job": "import", "list": "My List", "file": "myfile.csv"},
    "import-required-url": {
        "job": "import",
        "list": "My List",
        "url": "https://www.example.com/feed/ourfeed",
    },
    "import-signup-dates-url": {
        "job": "import",
        "list": "My List",
        "url": "https://www.example.com/feed/ourfeed",
        "signup_dates": 1,
    },
    "purchase-import": {"job": "purchase_import", "file": "file.txt"},
    # The "Set Custom Signup Date" use case, as the PHP and Ruby examples send it.
    "signup-dates-php": {
        "job": "import",
        "list": "test_list",
        "signup_dates": "true",
        "file": "hello.csv",
    },
    "signup-dates-ruby": {
        "job": "import",
        "list": "test2",
        "signup_dates": True,
        "file": "hello.csv",
    },
}

PAGE = Path(__file__).parents[2] / "docs" / "reference" / "job-api.txt"


def write_files(folder: Path) -> None:
    """The files the examples name: emails one per line, a signup-dates CSV, and the page's
    own three purchase_import lines."""
    (folder / "users.txt").write_text("user1@example.com\nuser2@example.com\n")
    (folder / "myfile.csv").write_text("user3@example.com\n")
    (folder / "hello.csv").write_text("email,signup_date\nhello@example.com,2016-06-01\n")
    text = PAGE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith('{"email":"user')]
    assert len(lines) == 3
    (folder / "file.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_example_validates_without_a_problem(name: str, tmp_path: Path) -> None:
    write_files(tmp_path)
    manifest = tmp_path / "manifest.yaml"
    document = {"version": 1, "name": "seed-example", "jobs": {"j": EXAMPLES[name]}}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    # --deep: the files' content too (the page's three purchase lines, the signup CSV).
    assert [problem.render() for problem in validate_file(manifest, deep=True)] == []


@pytest.fixture(scope="module")
def seeded_sandbox(tmp_path_factory: pytest.TempPathFactory):
    box = Sandbox(data_dir=tmp_path_factory.mktemp("seed-examples"), seed="demo", job_time=0.05)
    box.start()
    yield box
    box.stop()


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_sandbox_accepts_the_example(
    seeded_sandbox: Sandbox, name: str, tmp_path: Path
) -> None:
    write_files(tmp_path)
    payload = dict(EXAMPLES[name])
    binary = None
    if "file" in payload:
        payload["file"] = str(tmp_path / str(payload["file"]))
        binary = ["file"]
    client = SailthruClient(seeded_sandbox.api_key, seeded_sandbox.secret, seeded_sandbox.url)
    if payload["job"] == "export_list_data":
        import_done(client, str(payload["list"]))
    response = client.api_post("job", payload, binary)
    assert response.get_status_code() == 200, response.get_body()
    assert response.get_body()["status"] == "pending"


def import_done(client: SailthruClient, name: str) -> None:
    """Create the list an export example names (an import), and wait for it."""
    job = client.api_post("job", {"job": "import", "list": name, "emails": "b@example.com"})
    poll(client, job.get_body()["job_id"])
