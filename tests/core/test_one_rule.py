"""One place for each rule: every part of sailjobs that applies a rule gets the same answer.

The 31-day range of export_purchase_log (runner/limits.py) is applied by the manifest check,
plan rendering, the outputs a split job offers, the executor's split and the sandbox; email
syntax (runner/emails.py) by the manifest checks, pre-flight and the sandbox; signup dates
(runner/dates.py) by pre-flight and the sandbox's import; atomic writes
(runner/files.py) by reports, the download action and the split join.
"""

from __future__ import annotations

import csv
import hashlib
import os
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from runner.builtin.jobtypes import ExportPurchaseLog, Import
from runner.executor.splitparts import split_parts
from runner.files import atomic_writer, file_sha256, write_atomically
from runner.jobtypes import SPLIT_OUTPUTS, CheckContext
from runner.limits import MAX_DATE_RANGE_DAYS, parse_yyyymmdd
from runner.manifest.loader import load_manifest
from runner.manifest.render import _split_parts
from runner.preflight import check_file
from runner.sailthru import ApiError, SailthruClient
from runner.sandbox.imports import read_email_file
from runner.sandbox.jobs import JobFailed

START = date(2026, 1, 1)


def _range(days: int) -> dict[str, str]:
    end = START + timedelta(days=days - 1)
    return {"start_date": f"{START:%Y%m%d}", "end_date": f"{end:%Y%m%d}"}


def _sandbox_refuses(client: SailthruClient, params: dict[str, str]) -> bool:
    try:
        client.call("POST", "job", {"job": "export_purchase_log", **params})
    except ApiError as error:
        assert error.code == 18, error
        return True
    return False


@pytest.mark.parametrize("days", [1, MAX_DATE_RANGE_DAYS, MAX_DATE_RANGE_DAYS + 1, 95])
def test_every_part_agrees_on_the_31_day_range(
    days: int, sandbox_client: SailthruClient, tmp_path: Path
) -> None:
    params = _range(days)
    too_long = days > MAX_DATE_RANGE_DAYS
    unsplit = list(ExportPurchaseLog().check(params, CheckContext(Path("."))))
    split_allowed = list(ExportPurchaseLog().check(params, CheckContext(Path("."), split=True)))
    splitter = ExportPurchaseLog.splitter
    assert splitter is not None
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "version: 1\nname: m\njobs:\n  log:\n    job: export_purchase_log\n    split: true\n"
        f"    start_date: {params['start_date']}\n    end_date: {params['end_date']}\n"
    )
    outputs = load_manifest(manifest).job_outputs("log")

    assert bool(unsplit) is too_long  # validate/plan: refused without split: true
    assert split_allowed == []  # with split: true it is fine at any length
    assert (_split_parts(splitter, params) is not None) is too_long  # plan rendering
    assert (outputs >= SPLIT_OUTPUTS) is too_long  # parts/rows/... outputs
    parts = split_parts(SimpleNamespace(split=True), splitter, params)  # what the executor sends
    assert (parts is not None) is too_long
    assert _sandbox_refuses(sandbox_client, params) is too_long
    if parts is not None:
        spans = [
            (parse_yyyymmdd(p.params["start_date"]), parse_yyyymmdd(p.params["end_date"]))
            for p in parts
        ]
        assert all(end - start < timedelta(days=MAX_DATE_RANGE_DAYS) for start, end in spans)
        assert spans[0][0] == START and sum((end - start).days + 1 for start, end in spans) == days


ADDRESSES = {
    "ada@example.com": True,
    "first.last+tag@mail.example.co.uk": True,
    "a@b..c": False,  # an empty domain label
    "a,b@c.d": False,  # a separator inside an address
    "a;b@c.d": False,
    "ada@example": False,  # no dot in the domain
    "ada@@example.com": False,
}


@pytest.mark.parametrize(("address", "valid"), ADDRESSES.items())
def test_every_part_agrees_on_email_syntax(address: str, valid: bool, tmp_path: Path) -> None:
    ctx = CheckContext(tmp_path)
    report_email = list(ExportPurchaseLog().check({**_range(1), "report_email": address}, ctx))
    emails = [
        problem
        for problem in Import().check({"list": "L", "emails": address}, ctx)
        if problem.path == ("emails",)
    ]
    file = tmp_path / "emails.csv"
    with file.open("w", newline="") as out:  # a CSV with an email column (quoted when needed)
        csv.writer(out).writerows([["email"], [address]])

    assert (report_email == []) is valid
    if "," not in address:  # in `emails` a comma separates two addresses, each checked
        assert (emails == []) is valid
    assert (check_file("emails", file).skipped == 0) is valid  # pre-flight: skips it, warns
    assert ([email for email, _ in read_email_file(file, False)] == [address]) is valid  # sandbox


SIGNUP_DATES = {
    "2016-06-01": True,
    "2016-06-01 09:30:00": True,
    "2016-06-01T09:30:00Z": True,
    "20160601": True,  # yyyymmdd: digits, but not UNIX
    "2016/06/01": True,
    "06/01/2016": True,
    "1 June 2016": True,
    "Wed, 01 Jun 2016 09:30:00 -0400": True,
    "1464739200": False,  # UNIX: "Date variables cannot be in UNIX"
    "next week": False,  # strtotime reads it; neither pre-flight nor the sandbox does
    "2016-13-01": False,
}


@pytest.mark.parametrize(("text", "valid"), SIGNUP_DATES.items())
def test_preflight_and_the_sandbox_read_signup_dates_alike(
    text: str, valid: bool, tmp_path: Path
) -> None:
    file = tmp_path / "signups.csv"
    with file.open("w", newline="") as out:
        csv.writer(out).writerows([["email", "signup_date"], ["ada@example.com", text]])
    assert check_file("signup_dates", file).ok is valid  # pre-flight
    try:
        imported = list(read_email_file(file, True))  # the sandbox's import
    except JobFailed:
        imported = []
    assert (len(imported) == 1) is valid


def test_preflight_and_the_sandbox_find_a_header_after_blank_lines(tmp_path: Path) -> None:
    file = tmp_path / "people.csv"
    file.write_text("\n\nemail,name\nann@example.com,Ann\n")
    report = check_file("emails", file)
    assert report.ok and report.skipped == 0
    assert [email for email, _ in read_email_file(file, False)] == ["ann@example.com"]


def test_an_atomic_write_that_fails_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    write_atomically(target, b"first")
    with pytest.raises(RuntimeError), atomic_writer(target) as out:
        out.write(b"half of the second")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_atomic_modes_and_sha256(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    with atomic_writer(export) as out:  # exports hold personal data: 0600
        out.write(b"a,b\n1,2\n")
    write_atomically(tmp_path / "report.json", b"{}")  # reports: readable by CI uploaders
    assert os.stat(export).st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "report.json").st_mode & 0o777 == 0o644
    assert file_sha256(export) == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
