"""The five job types: their local checks quote the API error they prevent."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.builtin.jobtypes import (
    BUILTIN_JOB_TYPES,
    ExportListData,
    ExportPurchaseLog,
    Import,
    PurchaseImport,
)
from runner.jobtypes import EXPORT_OUTPUTS, CheckContext
from runner.limits import MAX_UPLOAD_BYTES, parse_yyyymmdd

from .conftest import problems_of


def problems(job_type, params, tmp_path=Path("."), split=False, severity="error"):
    ctx = CheckContext(manifest_dir=tmp_path, split=split)
    found = job_type.check(params, ctx)
    return [(".".join(map(str, p.path)), p.message) for p in found if p.severity == severity]


def messages(job_type, params, tmp_path=Path("."), split=False):
    """The errors: what refuses the job."""
    return problems(job_type, params, tmp_path, split)


def warnings(job_type, params, tmp_path=Path(".")):
    return problems(job_type, params, tmp_path, severity="warning")


def test_the_five_job_types_are_registered_through_the_hook():
    from runner.plugins import job_types

    names = {jt.name for jt in BUILTIN_JOB_TYPES}
    assert names >= {
        "export_list_data",
        "export_purchase_log",
        "export_scheduled_sends",
        "import",
        "purchase_import",
    }
    assert names <= set(job_types())


def test_exports_are_resubmit_safe_and_produce_exports_imports_are_not():
    for job_type in [jt for jt in BUILTIN_JOB_TYPES if jt.__module__.endswith(".seed")]:
        exporting = job_type.name.startswith("export_")
        assert job_type.produces_export is exporting
        assert job_type.resubmit_safe is exporting
        assert (job_type.outputs == EXPORT_OUTPUTS) is exporting


def test_missing_list_is_error_2():
    assert messages(ExportListData(), {}) == [
        (
            "list",
            "add `list`, the name of the list to export (the API would answer "
            'error 2 "Missing required parameter: list")',
        )
    ]
    assert any(path == "list" for path, _ in messages(Import(), {"emails": "a@example.com"}))


def test_an_empty_import_list_name_is_error_99_as_the_api_answers():
    for name in ("", "   "):
        found = messages(Import(), {"list": name, "emails": "a@example.com"})
        assert found == [
            (
                "list",
                "the list name is empty; name the list "
                '(the API would answer error 99 "Invalid list name:")',
            )
        ]
    long_name = "L" * 300  # no length limit is documented: nothing to refuse
    assert problems(Import(), {"list": long_name, "emails": "a@example.com"}) == []


def test_fields_outside_the_documented_names_are_warnings():
    params = {"list": "L", "fields": {"opens": 1, "opns": 1, "vars": {"userId": 1, "x": 2}}}
    assert messages(ExportListData(), params) == []  # the API page is silent: not refused
    found = warnings(ExportListData(), params)
    assert [path for path, _ in found] == ["fields.opns", "fields.vars.x"]
    assert "did you mean 'opens'?" in found[0][1]


@pytest.mark.parametrize(
    ("params", "path", "quoted"),
    [
        ({}, "start_date", "Missing required parameter: start_date,end_date"),
        ({"start_date": 20160101}, "end_date", "Missing required parameter: start_date,end_date"),
        (
            {"start_date": "2016-01-01", "end_date": 20160131},
            "start_date",
            "Invalid start_date/end_date fromat",
        ),
        (
            {"start_date": 20160131, "end_date": 20160101},
            "start_date",
            "Invalid date range. Start Date canot be later than End Date",
        ),
        (
            {"start_date": 20160101, "end_date": 20160201},
            "end_date",
            "Invalid date range. Up to 31 days allowed but 32 given",
        ),
    ],
)
def test_purchase_log_dates_are_error_18(params, path, quoted):
    found = messages(ExportPurchaseLog(), params)
    assert found[0][0] == path
    assert found[0][1].endswith(f'(the API would answer error 18 "{quoted}")')


def test_31_days_is_allowed_and_split_lifts_the_limit():
    assert messages(ExportPurchaseLog(), {"start_date": 20160101, "end_date": 20160131}) == []
    long_range = {"start_date": 20160101, "end_date": 20161231}
    assert messages(ExportPurchaseLog(), long_range, split=True) == []
    assert messages(ExportPurchaseLog(), long_range)[0][1].startswith("the range is 366 days")


def test_expressions_are_checked_at_submission_not_now():
    params = {"start_date": "${{ run.date | days_ago(90) | yyyymmdd }}", "end_date": 20160101}
    assert messages(ExportPurchaseLog(), params) == []
    assert messages(Import(), {"list": "L", "url": "${{ jobs.a.outputs.export_url }}"}) == []
    assert messages(PurchaseImport(), {"file": "${{ vars.file }}"}) == []


def test_parse_yyyymmdd():
    assert str(parse_yyyymmdd(20160229)) == "2016-02-29"
    assert str(parse_yyyymmdd("20160131")) == "2016-01-31"
    for bad in (20150229, "2016-01-01", 201601, True, None, 2016.0101):
        assert parse_yyyymmdd(bad) is None


def test_import_needs_exactly_one_source_and_valid_values():
    one_of = "One of the following parameters is required: emails, url, or file"
    assert messages(Import(), {"list": "L"})[0][1].endswith(f'error 99 "{one_of}")')
    two = {"list": "L", "emails": "a@example.com", "url": "https://x.io/a"}
    assert messages(Import(), two) == []  # the page is silent on two sources: a warning
    assert warnings(Import(), two)[0][1].startswith(
        "give one of `emails`, `url` or `file`, not emails and url"
    )
    bad_url = messages(Import(), {"list": "L", "url": "ftp://x.io/a.csv"})
    assert bad_url[0][1].endswith('error 99 "Invalid URL")')
    assert messages(Import(), {"list": "L", "emails": "a@example.com, b@example.org"}) == []
    mixed = {"list": "L", "emails": "ada@example.com,a@x;b"}
    assert "not email addresses" in warnings(Import(), mixed)[0][1]


def test_signup_dates_reads_a_csv_from_a_file_or_a_url():
    found = warnings(Import(), {"list": "L", "emails": "a@example.com", "signup_dates": True})
    assert found[0][0] == "signup_dates"
    # The page's own example: a url with signup_dates 1.
    seed_example = {"list": "My List", "url": "https://www.example.com/feed/ourfeed"}
    assert problems(Import(), {**seed_example, "signup_dates": 1}) == []
    assert warnings(Import(), {**seed_example, "signup_dates": 1}) == []


def test_files_relative_to_the_manifest_folder(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.csv").write_text("email\na@example.com\n")
    assert messages(Import(), {"list": "L", "file": "data/users.csv"}, tmp_path) == []
    missing = messages(Import(), {"list": "L", "file": "data/nope.csv"}, tmp_path)
    assert missing[0][1].endswith('error 99 "Failed to upload file")')
    folder = messages(PurchaseImport(), {"file": "data"}, tmp_path)
    assert "is not a file" in folder[0][1]
    required = messages(PurchaseImport(), {}, tmp_path)
    assert required[0][1].endswith('error 99 "File Parameter is required")')


def test_files_over_1_gb_are_rejected(tmp_path: Path):
    big = tmp_path / "big.jsonl"
    with big.open("wb") as out:  # sparse: takes no disk space
        out.truncate(MAX_UPLOAD_BYTES + 1)
    found = messages(PurchaseImport(), {"file": "big.jsonl"}, tmp_path)
    assert found[0][1].endswith(
        '(the API would answer error 99 "The size of the file exceeds the maximum upload '
        'file size Max upload is 1gb")'
    )


def test_unreadable_files_are_rejected(tmp_path: Path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    locked = tmp_path / "locked.csv"
    locked.write_text("email\n")
    locked.chmod(0)
    try:
        found = messages(Import(), {"list": "L", "file": "locked.csv"}, tmp_path)
    finally:
        locked.chmod(0o600)
    assert found[0][1].startswith("cannot read")


def test_universal_parameters_are_warned_about_not_refused():
    params = {"list": "L", "report_email": "nope", "postback_url": "hooks/x"}
    assert messages(ExportListData(), params) == []
    found = warnings(ExportListData(), params)
    assert [path for path, _ in found] == ["report_email", "postback_url"]
    assert "Invalid URL" not in found[1][1]  # the page ties error 99 to the import's url only


@pytest.mark.parametrize("url", ["http://[", "https://[::1/list.csv", "http://host:port/x"])
def test_a_url_that_cannot_be_parsed_is_invalid_url(url):
    found = messages(Import(), {"list": "L", "url": url})
    assert found == [
        ("url", f"{url!r} is not an http(s) URL " + '(the API would answer error 99 "Invalid URL")')
    ]


def test_emails_that_hold_no_address_are_an_error_bad_ones_among_good_a_warning():
    nobody = {"list": "L", "emails": "nobody, n/a"}
    assert messages(Import(), nobody) == [
        (
            "emails",
            "no email address in `emails` ('nobody', 'n/a'), so the import would add "
            "nobody; give comma-separated addresses",
        )
    ]
    trailing = {"list": "L", "emails": "ada@example.com,\nbob@example.com,"}
    assert problems(Import(), trailing) == [] and warnings(Import(), trailing) == []
    # With a file too, the file may hold the addresses: the emails alone are only a warning.
    assert messages(Import(), {**nobody, "file": "x.csv"}, Path("/nonexistent"))[0][0] == "file"


@pytest.mark.parametrize(
    "emails", ["ada@example.com; bob@example.com", "ada@example.com bob@x.org"]
)
def test_emails_run_together_with_semicolons_or_spaces_say_how_to_separate_them(emails):
    [(path, message)] = messages(Import(), {"list": "L", "emails": emails})
    assert path == "emails"
    assert message.endswith(
        "so the import would add nobody; separate the addresses with "
        f"commas, as the API splits them: {emails.replace('; ', ',').replace(' ', ',')!r}"
    )


def test_emails_given_as_a_list_say_the_api_takes_one_comma_separated_text(write):
    path = write(
        """
        version: 1
        name: n
        jobs:
          a: {job: import, list: L, emails: [ada@example.com, bob@example.com]}
        """
    )
    assert problems_of(path) == [
        "4:29: jobs.a.emails: `emails` is one text of comma-separated addresses, as the API "
        "takes it, not a list: write `emails: ada@example.com,bob@example.com` "
        "(or join a list with `${{ vars.NAME | join(',') }}`)"
    ]


@pytest.mark.parametrize("written", ["SHA256", "SHA-256", "sha_256"])
def test_hash_algo_in_another_spelling_says_how_the_page_writes_it(written):
    found = warnings(ExportListData(), {"list": "L", "hash_algo": written})
    assert found == [("hash_algo", f"write 'sha256' as the API page does, not {written!r}")]


def test_an_unknown_field_lists_the_fields_the_page_documents():
    [(path, message)] = warnings(ExportListData(), {"list": "L", "fields": {"click": 1}})
    assert path == "fields.click"
    assert "did you mean 'clicks'? the export may leave it out; fields: clicks, domain, " in message
    assert message.endswith(", top_device and a `vars` map of custom variables")
