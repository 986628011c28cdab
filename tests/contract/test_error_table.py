"""Every row of the job API page's error table, from three sides that must agree:

- the page itself (docs/reference/job-api.txt, a verbatim copy of Sailthru's page): the
  contract's rows (runner/sailthru/contract.py) are exactly the page's rows;
- the sandbox, driven by the official ``sailthru-client``: the row's HTTP status, code and
  text for the row's payload;
- ``sailjobs validate`` on the same payload written as a manifest: a problem naming that
  error, where a local check can know it (a missing list on the account cannot be known).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from runner.manifest.loader import load_manifest
from runner.problems import ManifestError
from runner.sailthru import contract
from runner.sailthru.contract import ErrorRow
from runner.sailthru.signature import sign
from tests.contract.conftest import Target
from tests.contract.scenarios import CASES, Case

PAGE = Path(__file__).parents[2] / "docs" / "reference" / "job-api.txt"


@dataclass(frozen=True)
class PageRow:
    jobs: str
    http_status: int
    code: int
    text: str  # the message, followed by the page's note when it has one


def page_rows() -> list[PageRow]:
    """The rows of the page's error table ("JobHTTP CodeError CodeError MessageNotes"):
    columns run together, so a row is <job(s)><3-digit HTTP status><code><message><note>."""
    text = PAGE.read_text(encoding="utf-8")
    header = re.search(r"^JobHTTP\s+CodeError CodeError MessageNotes$", text, re.MULTILINE)
    assert header, "the page's error table header"
    table = text[header.end() :].splitlines()
    rows = []
    for line in filter(None, (line.strip() for line in table)):
        match = re.fullmatch(
            r"(?P<jobs>(?:.*?\D)?)(?P<http>[1-5]\d\d)(?P<code>\d+)\s*(?P<text>\D.*)", line
        )
        assert match, f"not a row of the error table: {line!r}"
        rows.append(PageRow(match["jobs"], int(match["http"]), int(match["code"]), match["text"]))
    return rows


def page_jobs(page_row: PageRow) -> set[str]:
    """``export_list_data``, or the names in ``File Import jobs(content_update,…)``."""
    inside = re.search(r"\((.*)\)", page_row.jobs)
    names = inside[1].split(",") if inside else [page_row.jobs]
    return {name.strip() for name in names} - {""}  # no job named: every job


def contract_row_for(page_row: PageRow) -> ErrorRow | None:
    for row in contract.ERROR_TABLE:
        same_answer = (row.http_status, row.code) == (page_row.http_status, page_row.code)
        if same_answer and page_row.text.startswith(row.message):
            return row
    return None


def test_the_contract_has_exactly_the_page_rows() -> None:
    rows = page_rows()
    assert len(rows) == 16  # the page's table, as published
    matched = {row: contract_row_for(row) for row in rows}
    assert [row for row, found in matched.items() if found is None] == []
    assert set(matched.values()) == set(contract.ERROR_TABLE)
    for page_row, row in matched.items():
        assert row is not None
        assert page_jobs(page_row) <= set(row.jobs), (page_row, row)
    # And no contract row claims a job type the page does not list it for.
    for row in contract.ERROR_TABLE:
        listed = set().union(*(page_jobs(p) for p, found in matched.items() if found is row))
        assert set(row.jobs) == listed, row


def test_every_row_has_a_case() -> None:
    assert {case.row for case in CASES.values()} == set(contract.ERROR_TABLE)


def send_with_official_client(target: Target, case: Case, tmp_path: Path) -> tuple[int, dict]:
    client = target.official_client()
    payload = dict(case.payload)
    binary = None
    if case.upload is not None:
        path = tmp_path / "upload.csv"
        path.write_bytes(case.upload)
        payload["file"] = str(path)
        binary = ["file"]
    response = client.api_post("job", payload, binary)
    return response.get_status_code(), response.get_body()


def send_by_hand(target: Target, case: Case) -> tuple[int, dict]:
    """A signed POST /job that no official client sends (see ``Case.raw``)."""
    text = json.dumps(case.payload)
    if case.raw == "bad-json":
        text = text[:-1]  # cut short: '{"job": "import"'
    params = {"api_key": target.api_key, "format": "json", "json": text}
    params["sig"] = sign(target.secret, params)
    if case.raw in ("no-file-part", "bad-json"):
        response = requests.post(f"{target.url}/job", data=params, timeout=10)
    else:
        assert case.raw == "no-boundary"
        body = "".join(
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in params.items()
        )
        response = requests.post(
            f"{target.url}/job",
            data=(body + "--b--\r\n").encode(),
            headers={"Content-Type": "multipart/form-data"},  # no boundary=
            timeout=10,
        )
    return response.status_code, response.json()


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_api_answers_the_row(target: Target, name: str, tmp_path: Path) -> None:
    """The sandbox in CI; a real account's read-only subset with SAILJOBS_CONTRACT_*."""
    case = CASES[name]
    target.allow(case.read_only, f"the payload of {name} could import if accepted")
    if case.raw:
        status, body = send_by_hand(target, case)
    else:
        status, body = send_with_official_client(target, case, tmp_path)
    expected = {"error": case.row.code, "errormsg": case.row.text(**dict(case.fields))}
    assert (status, body) == (case.row.http_status, expected), target.name


def validate_problems(case: Case, tmp_path: Path) -> list[str]:
    """``case``'s payload as a one-job manifest, and what validate says of it."""
    job = dict(case.payload)
    if case.upload is not None:
        path = tmp_path / "upload.csv"
        if case.row is contract.FILE_TOO_LARGE:
            with path.open("wb") as sparse:  # over the API's 1 GB, without writing it
                sparse.truncate(1024**3 + 1)
        else:
            path.write_bytes(case.upload)
        job["file"] = path.name
    elif case.raw == "no-file-part":  # the runner always sends the file it names
        (tmp_path / str(job["file"])).write_text('{"email": "ada@example.com"}\n')
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "name": "contract", "jobs": {"j": job}}))
    try:
        load_manifest(manifest)
    except ManifestError as error:
        return [problem.render() for problem in error.problems if problem.is_error]
    return []


# A payload no manifest can hold (bad JSON: sailjobs writes the JSON itself) has no twin.
WRITABLE = sorted(name for name, case in CASES.items() if case.validate != "cannot-write")


@pytest.mark.parametrize("name", WRITABLE)
def test_validate_names_the_same_row(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    if case.raw == "no-boundary":  # the runner's own cause for the row: a missing file
        case = Case(case.row, {"job": "import", "list": "L", "file": "missing.csv"})
    named = f'error {case.row.code} "{case.row.text(**dict(case.fields))}"'
    problems = validate_problems(case, tmp_path)
    if case.validate == "refuses":
        assert len(problems) == 1 and named in problems[0], problems
    else:
        assert problems == []  # only the account knows: validate cannot refuse it


@pytest.mark.parametrize("url", [5, ["https://example.com/a.csv"], {"href": "x"}])
def test_a_url_that_is_not_text_is_invalid_url(target: Target, url: object) -> None:
    """(validate refuses these as a type error of the manifest before any contract rule.)"""
    target.allow(False, "an import's payload")
    client = target.official_client()
    response = client.api_post("job", {"job": "import", "list": "L", "url": url})
    row = contract.INVALID_URL
    assert (response.get_status_code(), response.get_body()) == (
        row.http_status,
        {"error": row.code, "errormsg": row.message},
    )
