"""Jobs run against the sandbox's data: imports, purchase imports, the three exports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Faults, Sandbox
from runner.sandbox.imports import read_email_file
from runner.testing import wait_for_job
from tests.sandbox.conftest import poll

PURCHASE = {
    "email": "user001@example.com",
    "date": "2016-06-01",
    "purchase_keys": {"extid": "purchase101"},
    "items": [
        {"qty": 2, "id": "2005", "title": "T-Shirts", "url": "http://example.com/t", "price": 4000},
        {"qty": 1, "id": "S1", "title": "Shoes", "url": "http://example.com/s", "price": 25000},
    ],
    "adjustments": [{"price": -5000, "title": "Sale"}],
}


def export_rows(client: SailthruClient, payload: dict) -> tuple[dict, list[list[str]]]:
    job = poll(client, client.api_post("job", payload).get_body()["job_id"])
    assert job["status"] == "completed", job
    with requests.get(job["export_url"], timeout=10) as response:
        return job, list(csv.reader(io.StringIO(response.text)))


def submit_file(client: SailthruClient, payload: dict, path: Path) -> dict:
    response = client.api_post("job", {**payload, "file": str(path)}, ["file"])
    assert response.is_ok(), response.get_body()
    return poll(client, response.get_body()["job_id"])


def test_demo_list_export_has_every_column_and_the_vars(client: SailthruClient) -> None:
    _, rows = export_rows(client, {"job": "export_list_data", "list": "Main Newsletter"})
    header = rows[0]
    assert header[:5] == ["Profile Id", "Email Hash", "Domain", "Engagement", "Lists"]
    assert header[-4:] == ["Email Status", "plan", "userId", "user_type"]
    assert "Geolocation Zip" in header and "Email Message" not in header
    assert len(rows) == 301
    first = dict(zip(header, rows[1], strict=True))
    assert first["Domain"] == "example.com"
    assert "Main Newsletter" in first["Lists"]
    datetime.strptime(first["Signup"], "%a, %d %b %Y %H:%M:%S %z")  # RFC 2822


def test_fields_limit_the_columns(client: SailthruClient) -> None:
    payload = {
        "job": "export_list_data",
        "list": "VIP",
        "hash_algo": "sha256",
        "fields": {"opens": 1, "geolocation_city": 1, "vars": {"userId": 1, "nothere": 1}},
    }
    _, rows = export_rows(client, payload)
    assert rows[0] == ["Profile Id", "Email Hash", "Opens", "Geolocation City", "userId", "nothere"]
    assert len(rows) == 26
    hashes = {row[1] for row in rows[1:]}
    assert hashlib.sha256(b"user001@example.com").hexdigest() in hashes
    assert all(row[5] == "" for row in rows[1:])


def test_import_csv_with_signup_dates(client: SailthruClient, tmp_path: Path) -> None:
    path = tmp_path / "signups.csv"
    path.write_text(
        "email,signup_date\nold@example.com,2015-03-01\nuser002@example.com,2014-07-04 10:00:00\n"
    )
    job = submit_file(client, {"job": "import", "list": "Dated", "signup_dates": 1}, path)
    assert job["status"] == "completed", job
    _, rows = export_rows(
        client, {"job": "export_list_data", "list": "Dated", "fields": {"list_signup": 1}}
    )
    dates = sorted(row[2] for row in rows[1:])
    assert dates == ["Fri, 04 Jul 2014 10:00:00 +0000", "Sun, 01 Mar 2015 00:00:00 +0000"]


def test_signup_dates_in_unix_time_end_the_job_in_error(
    client: SailthruClient, tmp_path: Path
) -> None:
    path = tmp_path / "signups.csv"
    path.write_text("email,signup_date\nok@example.com,2015-03-01\nbad@example.com,1425168000\n")
    job = submit_file(client, {"job": "import", "list": "Unix", "signup_dates": "true"}, path)
    assert job["status"] == "error"
    assert job["error"] is True
    assert job["error_message"].startswith("Line 3: signup_date '1425168000'")
    # Nothing half-imported: the list was never created.
    missing = client.api_post("job", {"job": "export_list_data", "list": "Unix"})
    assert missing.get_body() == {"error": 99, "errormsg": "List not found"}


def test_import_from_url_reads_another_exports_link(client: SailthruClient) -> None:
    export, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    job = poll(
        client,
        client.api_post(
            "job", {"job": "import", "list": "From URL", "url": export["export_url"]}
        ).get_body()["job_id"],
    )
    # A list export has no email column (only hashes): nothing imported, still completed,
    # and the answer says so (sandbox fields: the real answer's are not documented).
    assert job["status"] == "completed"
    assert job["import_count"] == 0
    assert job["import_warning"] == (
        'No email addresses imported: the file has no "email" column (its first line: '
        "Profile Id, Email Hash, Domain, Engagement, Lists, Profile Created Date, ...); it "
        "looks like a Sailthru export, which holds hashes, never addresses. Import a CSV with "
        'an "email" column, or one address per line.'
    )


def test_an_import_answer_counts_the_addresses_it_imported(
    client: SailthruClient, tmp_path: Path
) -> None:
    path = tmp_path / "signups.csv"
    path.write_text("email,first_name\nann@example.com,Ann\nnot-an-address,Bob\n")
    job = submit_file(client, {"job": "import", "list": "Counted"}, path)
    assert (job["status"], job["import_count"]) == ("completed", 1)
    assert "import_warning" not in job


@pytest.mark.parametrize(
    ("emails", "content", "warning"),
    [
        (
            "nobody, also-nobody",
            None,
            "no valid address among the 2 value(s) of `emails`.",
        ),
        (None, "", "the file is empty."),
        (None, "email\nnot-an-address\n", "no valid address among the 2 line(s) of the file."),
        (
            None,
            "name,phone\nAnn,555\n",
            'the file has no "email" column (its first line: name, phone). Import a CSV',
        ),
    ],
)
def test_an_import_of_nobody_says_why(
    client: SailthruClient, tmp_path: Path, emails: str | None, content: str | None, warning: str
) -> None:
    payload = {"job": "import", "list": "Nobody"}
    if emails is not None:
        job = poll(
            client, client.api_post("job", {**payload, "emails": emails}).get_body()["job_id"]
        )
    else:
        path = tmp_path / "people.csv"
        path.write_text(content or "\n")  # an upload of 0 bytes is refused at POST
        job = submit_file(client, payload, path)
    assert (job["status"], job["import_count"]) == ("completed", 0)
    assert job["import_warning"].startswith("No email addresses imported: ")
    assert warning in job["import_warning"]


def test_import_from_a_url_over_the_size_cap_ends_in_error(sandbox_factory) -> None:
    sandbox = sandbox_factory(max_upload=200)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    export, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    payload = {"job": "import", "list": "Too Big", "url": export["export_url"]}
    job = poll(client, client.api_post("job", payload).get_body()["job_id"])
    assert job["status"] == "error"
    assert job["error_message"] == (
        "The size of the file exceeds the maximum upload file size Max upload is 1gb"
    )
    assert not any(sandbox.upload_dir.glob("url-*"))


def test_import_from_a_url_serving_emails(client: SailthruClient) -> None:
    class Emails(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"email\nuno@example.com\ndos@example.com\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Emails)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/users.csv"
        response = client.api_post("job", {"job": "import", "list": "Fetched", "url": url})
        assert poll(client, response.get_body()["job_id"])["status"] == "completed"
        bad = client.api_post(
            "job", {"job": "import", "list": "Fetched", "url": url.replace("users", "404")}
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    _, rows = export_rows(client, {"job": "export_list_data", "list": "Fetched"})
    assert len(rows) == 3
    # The second URL's server is gone by now: the job ends in error, it does not hang.
    failed = poll(client, bad.get_body()["job_id"])
    assert failed["status"] == "error"
    assert "import URL" in failed["error_message"]


def test_purchase_import_then_purchase_log_export(client: SailthruClient, tmp_path: Path) -> None:
    path = tmp_path / "purchases.jsonl"
    second = {**PURCHASE, "date": "2016-06-20", "purchase_keys": {"extid": "purchase202"}}
    path.write_text(json.dumps(PURCHASE) + "\n" + json.dumps(second) + "\n")
    job = submit_file(client, {"job": "purchase_import"}, path)
    assert job["status"] == "completed", job
    assert job["name"] == "Purchase Import"
    export, rows = export_rows(
        client, {"job": "export_purchase_log", "start_date": 20160601, "end_date": "20160615"}
    )
    assert export["name"] == "Export purchase logs from 20160601 to 20160615"
    assert export["filename"] == "purchase_log-20160601-20160615.csv"
    assert rows[0] == [
        "Date", "Email Hash", "Extid", "Message ID", "Items", "Urls", "Price", "Channel",
        "Unit Prices", "Quantities",
    ]  # fmt: skip
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Extid"] == "purchase101"
    assert row["Price"] == str(2 * 4000 + 25000 - 5000)
    assert row["Email Hash"] == hashlib.md5(b"user001@example.com").hexdigest()
    assert row["Quantities"] == "2,1" and row["Unit Prices"] == "4000,25000"


def test_purchases_update_the_buyers_profiles(sandbox_factory, tmp_path: Path) -> None:
    sandbox = sandbox_factory(seed=None)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    imported = client.api_post(
        "job", {"job": "import", "list": "Buyers", "emails": "user001@example.com"}
    )
    assert poll(client, imported.get_body()["job_id"])["status"] == "completed"
    path = tmp_path / "purchases.jsonl"
    later = {**PURCHASE, "date": "2016-07-01", "purchase_keys": {"extid": "p2"}}
    path.write_text(json.dumps(PURCHASE) + "\n" + json.dumps(later) + "\n")
    assert submit_file(client, {"job": "purchase_import"}, path)["status"] == "completed"
    fields = {"purchase_count": 1, "purchase_price": 1, "first_purchase_time": 1}
    fields["last_purchase_time"] = 1
    fields["largest_purchase_item_price"] = 1
    _, rows = export_rows(client, {"job": "export_list_data", "list": "Buyers", "fields": fields})
    # Columns in the export's own order, whatever the order asked for.
    assert rows[0][2:] == [
        "First Purchase Time", "Purchase Count", "Purchase Price", "Last Purchase Time",
        "Largest Purchase Item Price",
    ]  # fmt: skip
    assert rows[1][2:] == [
        "Wed, 01 Jun 2016 00:00:00 +0000",
        "2",
        str(2 * (2 * 4000 + 25000 - 5000)),
        "Fri, 01 Jul 2016 00:00:00 +0000",
        "25000",
    ]


def test_bad_purchase_line_fails_the_job_naming_the_line(
    client: SailthruClient, tmp_path: Path
) -> None:
    path = tmp_path / "purchases.jsonl"
    bad = {**PURCHASE, "purchase_keys": {"extid": "p2"}, "items": [{**PURCHASE["items"][0]}]}
    bad["items"][0]["price"] = "12.99"
    path.write_text(json.dumps(PURCHASE) + "\n" + json.dumps(bad) + "\n")
    job = submit_file(client, {"job": "purchase_import"}, path)
    assert job["status"] == "error"
    assert job["error_message"].startswith("Line 2: items[0].price")
    _, rows = export_rows(
        client, {"job": "export_purchase_log", "start_date": 20160601, "end_date": 20160601}
    )
    assert len(rows) == 1  # the good first line was not stored either


def test_demo_purchases_and_scheduled_sends_export(client: SailthruClient) -> None:
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=30)).strftime("%Y%m%d")
    _, purchases = export_rows(
        client,
        {"job": "export_purchase_log", "start_date": start, "end_date": today.strftime("%Y%m%d")},
    )
    assert len(purchases) > 20
    job, sends = export_rows(client, {"job": "export_scheduled_sends"})
    assert job["filename"] == "scheduled_sends.csv"
    assert sends[0] == ["Send Id", "Template", "Email Hash", "Send Time"]
    assert len(sends) == 41


def test_export_download_supports_ranges(client: SailthruClient) -> None:
    job, _ = export_rows(client, {"job": "export_list_data", "list": "Engaged"})
    with requests.get(job["export_url"], timeout=10) as full:
        content = full.content
        assert full.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert full.headers["Content-Disposition"] == "attachment; filename=engaged.csv"
        assert full.headers["Accept-Ranges"] == "bytes"
    headers = {"Range": "bytes=100-"}
    with requests.get(job["export_url"], headers=headers, timeout=10) as part:
        assert part.status_code == 206
        assert part.content == content[100:]
        assert part.headers["Content-Range"] == f"bytes 100-{len(content) - 1}/{len(content)}"


def test_a_list_name_beyond_ascii_downloads_with_an_ascii_filename(
    client: SailthruClient,
) -> None:
    name = "Café Ünï 日本"
    imported = client.api_post("job", {"job": "import", "list": name, "emails": "zoe@example.com"})
    assert poll(client, imported.get_body()["job_id"])["status"] == "completed"
    job, rows = export_rows(client, {"job": "export_list_data", "list": name})
    assert job["name"] == f"Export All List Data: {name}"
    assert job["filename"] == "cafe_uni.csv"
    assert rows[1][1] == hashlib.md5(b"zoe@example.com").hexdigest()
    with requests.get(job["export_url"], timeout=10) as response:
        assert response.headers["Content-Disposition"] == "attachment; filename=cafe_uni.csv"


def test_export_url_names_the_host_the_client_reached(client: SailthruClient) -> None:
    """Bound to 0.0.0.0 in a container, the sandbox is reached by another name: links use it."""
    job, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    assert job["export_url"].startswith(client.api_url + "/export/")
    port = urlsplit(client.api_url).port
    query = client._prepare_json_payload({"job_id": job["job_id"]})
    for host, base in [(f"sandbox:{port}", f"http://sandbox:{port}"), ("bad/host", client.api_url)]:
        with requests.get(
            f"{client.api_url}/job", params=query, headers={"Host": host}, timeout=10
        ) as response:
            assert response.json()["export_url"] == base + job["export_url"][len(client.api_url) :]


def test_export_links_expire_after_the_ttl(sandbox_factory) -> None:
    sandbox = sandbox_factory(export_ttl=0.5)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    time.sleep(0.6)
    again = client.api_get("job", {"job_id": job["job_id"]}).get_body()
    assert again["expired"] is True
    assert "export_url" not in again
    with requests.get(job["export_url"], timeout=10) as response:
        assert response.status_code == 404


def test_expire_exports_now(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    sandbox.expire_exports()
    assert client.api_get("job", {"job_id": job["job_id"]}).get_body()["expired"] is True
    with requests.get(job["export_url"], timeout=10) as response:
        assert response.status_code == 404
    assert list((sandbox.data_dir / "exports").glob("*.csv")) == []


def test_an_export_file_that_cannot_be_read_is_404_not_a_crash(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    job, _ = export_rows(client, {"job": "export_list_data", "list": "VIP"})
    (path,) = (sandbox.data_dir / "exports").glob("*.csv")
    path.unlink()
    path.mkdir()  # still "exists", but can no longer be opened as a file
    try:
        with requests.get(job["export_url"], timeout=10) as response:
            assert response.status_code == 404
            assert "NoSuchKey" in response.text
    finally:
        path.rmdir()


def test_guessed_export_urls_are_404(sandbox: Sandbox) -> None:
    for path in ("/export/", "/export/2026/01/01/" + "0" * 32, "/export/../sandbox.sqlite3"):
        with requests.get(sandbox.url + path, timeout=10) as response:
            assert response.status_code == 404


def test_unknown_job_id_is_an_error(client: SailthruClient) -> None:
    response = client.api_get("job", {"job_id": "ffffffffffffffffffffffff"})
    assert response.get_status_code() == 404
    assert set(response.get_body()) == {"error", "errormsg"}
    missing = client.api_get("job", {})
    assert missing.get_body() == {"error": 2, "errormsg": "Missing required parameter: job_id"}


def test_at_most_five_imports_run_at_once(sandbox_factory) -> None:
    sandbox = sandbox_factory(job_time=lambda payload: 2.0 if payload["job"] == "import" else 0.0)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    ids = [
        client.api_post(
            "job", {"job": "import", "list": f"Many {n}", "emails": f"u{n}@example.com"}
        ).get_body()["job_id"]
        for n in range(7)
    ]
    export_id = client.api_post("job", {"job": "export_scheduled_sends"}).get_body()["job_id"]
    saw_two_waiting = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = [sandbox.job(job_id)["status"] for job_id in ids]
        assert statuses.count("running") <= 5, statuses
        if statuses.count("running") == 5 and statuses.count("pending") == 2:
            saw_two_waiting = True
            # Exports are not held back by the import slots.
            assert sandbox.job(export_id)["status"] == "completed"
        if statuses.count("completed") == len(ids):
            break
        time.sleep(0.05)
    assert saw_two_waiting
    for job_id in ids:
        assert wait_for_job(sandbox, job_id)["status"] == "completed"


def test_job_time_may_depend_on_the_payload(sandbox_factory) -> None:
    sandbox = sandbox_factory(job_time=lambda payload: 0.0 if payload["list"] == "VIP" else 5.0)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    quick = client.api_post("job", {"job": "export_list_data", "list": "VIP"}).get_body()
    slow = client.api_post("job", {"job": "export_list_data", "list": "Engaged"}).get_body()
    assert wait_for_job(sandbox, quick["job_id"], timeout=2)["status"] == "completed"
    assert sandbox.job(slow["job_id"])["status"] in ("pending", "running")


def test_submissions_and_request_log(sandbox: Sandbox) -> None:
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    client.api_post("job", {"job": "export_list_data", "list": "VIP"})
    client.api_post("job", {"job": "export_list_data"})  # refused: not a submission
    client.api_post("job", {"job": "export_scheduled_sends"})
    assert sandbox.submissions() == [
        {"job": "export_list_data", "list": "VIP"},
        {"job": "export_scheduled_sends"},
    ]
    assert sandbox.submissions("export_scheduled_sends") == [{"job": "export_scheduled_sends"}]
    assert sandbox.request_log == [
        ("POST", "/job", 200),
        ("POST", "/job", 400),
        ("POST", "/job", 200),
    ]


def test_jobs_resume_when_restarted_on_the_same_data(sandbox_factory, tmp_path: Path) -> None:
    first = sandbox_factory(data_dir=tmp_path / "data", job_time=30.0)
    client = SailthruClient(first.api_key, first.secret, first.url)
    job_id = client.api_post("job", {"job": "export_scheduled_sends"}).get_body()["job_id"]
    first.stop()
    second = sandbox_factory(data_dir=tmp_path / "data", job_time=0.1)
    assert wait_for_job(second, job_id)["status"] == "completed"
    assert second.submissions() == [{"job": "export_scheduled_sends"}]


def test_list_names_with_commas_and_quotes_stay_one_cell(client: SailthruClient) -> None:
    name = 'Sale, "Spring"'
    for list_name in (name, "Plain"):
        response = client.api_post(
            "job", {"job": "import", "list": list_name, "emails": "quote@example.com"}
        )
        assert poll(client, response.get_body()["job_id"])["status"] == "completed"
    job, rows = export_rows(
        client, {"job": "export_list_data", "list": name, "fields": {"lists": 1, "signup": 1}}
    )
    assert job["filename"] == "sale_spring.csv"
    assert rows[0] == ["Profile Id", "Email Hash", "Lists", "Signup"]
    assert rows[1][2] == 'Sale, "Spring",Plain'
    datetime.strptime(rows[1][3], "%a, %d %b %Y %H:%M:%S %z")


def test_var_values_with_commas_quotes_and_newlines(sandbox_factory, tmp_path: Path) -> None:
    from runner.sandbox.store import Store, user_row

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store(data_dir / "sandbox.sqlite3")
    tricky = {"note": 'says "hi", twice\nthen leaves', "n": 7, "nested": {"a": [1, 2]}}
    try:
        with store.transaction() as db:
            list_id = store.list_id(db, "Tricky", create=True)
            store.add_users(
                db,
                list_id or 0,
                [
                    user_row(
                        "t@example.com", "Wed, 07 Dec 2016 15:44:09 -0500", vars=json.dumps(tricky)
                    ),
                    user_row(
                        "u@example.com", "Wed, 07 Dec 2016 15:44:09 -0500", geolocation_city="A, B"
                    ),
                ],
            )
    finally:
        store.close()
    sandbox = sandbox_factory(data_dir=data_dir, seed=None)
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    _, rows = export_rows(client, {"job": "export_list_data", "list": "Tricky"})
    header = rows[0]
    assert header[-3:] == ["n", "nested", "note"]
    first = dict(zip(header, rows[1], strict=True))
    second = dict(zip(header, rows[2], strict=True))
    assert first["note"] == tricky["note"]
    assert first["n"] == "7"
    assert json.loads(first["nested"]) == {"a": [1, 2]}
    assert first["Signup"] == "Wed, 07 Dec 2016 15:44:09 -0500"
    assert second["Geolocation City"] == "A, B"
    assert second["note"] == ""


def test_default_export_matches_the_column_by_column_export(client: SailthruClient) -> None:
    """The default export is built from pieces SQLite keeps ready; they must agree."""
    from runner.sandbox.exportjobs import DEFAULT_LIST_FIELDS

    _, default_rows = export_rows(client, {"job": "export_list_data", "list": "Main Newsletter"})
    every_field = {name: 1 for name in DEFAULT_LIST_FIELDS} | {"email_message": 1, "vars": 1}
    _, generic_rows = export_rows(
        client, {"job": "export_list_data", "list": "Main Newsletter", "fields": every_field}
    )
    skip = generic_rows[0].index("Email Message")
    assert [row[:skip] + row[skip + 1 :] for row in generic_rows] == default_rows
    assert any("," in row[4] for row in default_rows[1:])  # the Lists cells were quoted


def test_an_email_file_is_read_lazily(tmp_path: Path) -> None:
    """One email per line is streamed (a 1 GB file is never held in memory): the first
    email comes before a bad line further down is even read."""
    path = tmp_path / "emails.txt"
    path.write_bytes(b"ann@example.com\nbob@example.com\n\xff\n")
    emails = read_email_file(path, signup_dates=False)
    assert next(emails) == ("ann@example.com", None)
    assert next(emails) == ("bob@example.com", None)


class SlowEmails(BaseHTTPRequestHandler):
    """Serves emails; the first answer stops after its first bytes until ``release`` is set
    (``reset()`` before each test: the events belong to the class)."""

    body = b"".join(b"slow%04d@example.com\n" % n for n in range(50))
    first_bytes_sent = threading.Event()
    release = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.first_bytes_sent = threading.Event()
        cls.release = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if not self.first_bytes_sent.is_set():
            self.wfile.write(self.body[:10])
            self.wfile.flush()
            self.first_bytes_sent.set()
            self.release.wait(30)
            self.wfile.write(self.body[10:])
        else:
            self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def test_stop_ends_a_running_job_early_and_a_restart_runs_it(
    sandbox_factory, tmp_path: Path
) -> None:
    SlowEmails.reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowEmails)
    server_thread = threading.Thread(target=server.serve_forever, daemon=True)
    server_thread.start()
    data_dir = tmp_path / "data"
    try:
        sandbox = sandbox_factory(data_dir=data_dir, seed=None, job_time=0)
        client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
        url = f"http://127.0.0.1:{server.server_port}/emails.txt"
        job_id = client.api_post("job", {"job": "import", "list": "Slow", "url": url}).get_body()[
            "job_id"
        ]
        assert SlowEmails.first_bytes_sent.wait(10)
        stopping = sandbox._running_jobs().env.stopping
        stopper = threading.Thread(target=sandbox.stop)
        stopper.start()
        assert stopping.wait(10)
        SlowEmails.release.set()  # the job reads the rest, sees the stop, writes nothing
        stopper.join(10)
        assert not stopper.is_alive()
        with closing(sqlite3.connect(data_dir / "sandbox.sqlite3")) as db:
            assert db.execute("SELECT status FROM jobs").fetchall() == [("running",)]
            assert db.execute("SELECT count(*) FROM lists").fetchone() == (0,)
        restarted = sandbox_factory(data_dir=data_dir, seed=None, job_time=0)
        assert wait_for_job(restarted, job_id)["status"] == "completed"
    finally:
        SlowEmails.release.set()
        server.shutdown()
        server.server_close()
        server_thread.join()
    restarted_client = SailthruClient(restarted.api_key, restarted.secret, restarted.url)
    _, rows = export_rows(restarted_client, {"job": "export_list_data", "list": "Slow"})
    assert len(rows) == 51


def test_a_request_in_flight_when_the_sandbox_stops_is_a_503_not_a_bug(
    sandbox_factory, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = sandbox_factory(faults=Faults(latency=0.5))
    client = SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url)
    answers: list = []
    request = threading.Thread(
        target=lambda: answers.append(client.api_get("job", {"job_id": "0" * 24}))
    )
    request.start()
    time.sleep(0.2)  # the request is in the sandbox, waiting out its latency
    sandbox.stop()
    request.join(10)
    (answer,) = answers
    assert answer.get_status_code() == 503
    assert answer.get_body() == {"error": 9, "errormsg": "Internal error"}
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
