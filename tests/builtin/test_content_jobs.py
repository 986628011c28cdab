"""content_update, delete_content and list_erase as a user meets them: their local rules
(`sailjobs validate`), content_update's file check (`validate --deep`), `confirm: true` on the
two that delete data, and their manifests under manifests/ run end to end on the sandbox."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.builtin.jobtypes import ContentUpdate, DeleteContent, ListErase
from runner.builtin.jobtypes.content import CONTENT_FILE
from runner.cli import cli
from runner.jobtypes import CheckContext
from runner.plugins import job_types
from runner.problems import ManifestError
from runner.sandbox import Sandbox
from tests.manifest.conftest import problems_of

REPO = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def manifest(tmp_path: Path, jobs: str) -> Path:
    body = textwrap.indent(textwrap.dedent(jobs).strip(), "  ")
    return write(tmp_path, "m.yaml", f"version: 1\nname: t\njobs:\n{body}\n")


def errors(job_type, params, tmp_path: Path = Path(".")) -> list[str]:
    found = job_type.check(params, CheckContext(manifest_dir=tmp_path))
    return [f"{'.'.join(map(str, p.path))}: {p.message}" for p in found if p.severity == "error"]


# --- the types ------------------------------------------------------------------------------


def test_the_three_types_come_through_the_hook_with_their_traits() -> None:
    types = job_types()
    assert isinstance(types["content_update"], ContentUpdate)
    assert (types["delete_content"].destructive, types["list_erase"].destructive) == (True, True)
    assert not types["content_update"].destructive
    # none is resubmitted: content_update for update's reasons (a second import slot and
    # report, and a late duplicate overwrites what changed in between), the others delete
    assert not any(types[name].resubmit_safe for name in ("content_update", "delete_content"))
    assert not types["list_erase"].resubmit_safe
    assert types["content_update"].import_slot
    assert not types["delete_content"].import_slot and not types["list_erase"].import_slot
    assert types["content_update"].file_params == ("file",)


def test_content_update_needs_a_file_that_exists(tmp_path: Path) -> None:
    assert errors(ContentUpdate(), {}) == [
        "file: add `file`, a JSON-lines file of content items, one per line, each with its "
        "`id` (the page's URL) or `url` (the API would answer error 99 \"File Parameter is "
        'required")'
    ]
    [missing] = errors(ContentUpdate(), {"file": "feed.jsonl"}, tmp_path)
    assert missing.startswith("file: file 'feed.jsonl'") and "does not exist" in missing


def test_delete_content_must_say_which_mode_it_wants() -> None:
    assert errors(DeleteContent(), {}) == [
        "expired_only: add `expired_only: true` to delete only expired content, or "
        "`expired_only: false` to delete ALL content (in the date range, if given); there is "
        "no default (Sailthru documents no error for this; the sandbox answers error 99 "
        '"Missing required parameter: expired_only")'
    ]
    assert errors(DeleteContent(), {"expired_only": True}) == []


GUESSED_NAMES = (
    "Sailthru's docs name no parameter of delete_content: expired_only, start_date and "
    "end_date are sailjobs' names; the API may ignore them and apply its own default (all "
    "content?): ask Sailthru support before running it on an account"
)


def test_delete_content_always_warns_that_its_parameter_names_are_guesses() -> None:
    def warnings(params: dict[str, object]) -> list[tuple[tuple[str | int, ...], str]]:
        found = DeleteContent().check(params, CheckContext(manifest_dir=Path(".")))
        return [(p.path, p.message) for p in found if p.severity == "warning"]

    assert warnings({"expired_only": True}) == [(("expired_only",), GUESSED_NAMES)]
    assert warnings({}) == [((), GUESSED_NAMES)]  # at the job, beside the missing mode's error


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_validate_and_plan_show_the_guess_on_every_review(command: str) -> None:
    result = CliRunner().invoke(cli, [command, str(REPO / "manifests" / "content-refresh.yaml")])
    assert result.exit_code == 0, result.output
    assert (
        f"content-refresh.yaml:30:19: warning: jobs.delete-expired.expired_only: {GUESSED_NAMES}"
        in result.output
    )


def test_delete_content_dates_are_a_yyyymmdd_range() -> None:
    def check(start: object, end: object) -> list[str]:
        params = {"expired_only": False, "start_date": start, "end_date": end}
        return errors(DeleteContent(), {k: v for k, v in params.items() if v is not None})

    assert check(20260101, 20260331) == []
    assert check(20260101, None) == [
        "end_date: add `end_date` too (yyyymmdd): a range needs both ends; without either, the "
        "job deletes regardless of publish date (Sailthru documents no error for this; the "
        'sandbox answers error 99 "Missing required parameter: start_date,end_date")'
    ]
    [bad] = check("2026-01-01", 20260331)
    assert bad.startswith("start_date: '2026-01-01' is not a yyyymmdd date; write e.g. 20160131")
    [swapped] = check(20260331, 20260101)
    assert "start_date 20260331 is after end_date 20260101; swap them" in swapped


def test_list_erase_names_lists(tmp_path: Path) -> None:
    assert errors(ListErase(), {}) == [
        "lists: add `lists`, the names of the lists to erase (a YAML list) (Sailthru "
        'documents no error for this; the sandbox answers error 99 "Missing required '
        'parameter: lists")'
    ]
    assert errors(ListErase(), {"lists": ["Old Promo", "Spring"]}) == []
    [empty] = errors(ListErase(), {"lists": ["Old Promo", " "]})
    assert empty.startswith("lists.1: a list name is non-empty text, got ' '")


def test_a_text_for_lists_says_write_a_list(tmp_path: Path) -> None:
    path = manifest(
        tmp_path,
        """
        erase:
          job: list_erase
          lists: Old Promo
          confirm: true
        """,
    )
    assert problems_of(path) == [
        "6:12: jobs.erase.lists: `lists` is a list of list names, not text ('Old Promo'): "
        "write `lists: [Old Promo]`"
    ]


def test_a_repeated_list_name_is_a_warning() -> None:
    found = list(ListErase().check({"lists": ["A", "A"]}, CheckContext(manifest_dir=Path("."))))
    assert [(p.severity, p.message) for p in found] == [("warning", "named more than once: 'A'")]


# --- confirm ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "params"),
    [("delete_content", "expired_only: true"), ("list_erase", "lists: [Old Promo]")],
)
def test_a_destructive_job_without_confirm_is_refused(
    tmp_path: Path, job: str, params: str
) -> None:
    path = manifest(tmp_path, f"clean:\n  job: {job}\n  {params}\n")
    errors = [p for p in problems_of(path) if " warning: " not in p]  # delete_content's guess
    assert errors == [
        f"5:10: jobs.clean.job: {job} deletes data in Sailthru, which cannot be undone; once "
        "the manifest is reviewed, write `confirm: true` on the job to let it run"
    ]
    confirmed = manifest(tmp_path, f"clean:\n  job: {job}\n  {params}\n  confirm: true\n")
    assert problems_of(confirmed) == []


def test_confirm_on_content_update_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "feed.jsonl", '{"url": "https://example.com/a"}\n')
    path = manifest(tmp_path, "feed:\n  job: content_update\n  file: feed.jsonl\n  confirm: true\n")
    [problem] = problems_of(path)
    assert "jobs.feed.confirm: `confirm` is for job types that delete data" in problem
    assert "delete_content, list_erase" in problem and "content_update deletes nothing" in problem


def test_run_without_confirm_sends_nothing_and_with_it_erases(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sailjobs run` on an account (here the sandbox, as SAILTHRU_API_URL): exit 2 and not
    one request for the unconfirmed job; the confirmed one erases the list."""
    monkeypatch.setenv("SAILTHRU_API_KEY", sandbox.api_key)
    monkeypatch.setenv("SAILTHRU_API_SECRET", sandbox.secret)
    monkeypatch.setenv("SAILTHRU_API_URL", sandbox.url)
    jobs = "erase:\n  job: list_erase\n  lists: [Spring 2025 Promo]\n"
    state = ["--state", str(tmp_path / "st")]
    refused = CliRunner().invoke(cli, ["run", str(manifest(tmp_path, jobs)), *state])
    assert refused.exit_code == 2, refused.output
    assert "write `confirm: true` on the job to let it run" in refused.output
    assert sandbox.submissions() == []
    assert list_names(sandbox) >= {"Spring 2025 Promo"}

    confirmed = manifest(tmp_path, jobs + "  confirm: true\n")
    done = CliRunner().invoke(cli, ["run", str(confirmed), *state])
    assert done.exit_code == 0, done.output
    assert [s["job"] for s in sandbox.submissions()] == ["list_erase"]
    assert "Spring 2025 Promo" not in list_names(sandbox)


# --- content_update's file check ------------------------------------------------------------


def check_lines(tmp_path: Path, *lines: str):
    path = write(tmp_path, "feed.jsonl", "\n".join(lines) + "\n")
    return CONTENT_FILE.check(path)


def test_a_good_content_file_passes_and_repeated_urls_are_counted(tmp_path: Path) -> None:
    report = check_lines(
        tmp_path,
        '{"url": "https://example.com/123/water_bottle-outdoor", "inventory": 47}',
        '{"url": "https://example.com/123/water_bottle-sport", "title": "Sports Water Bottle"}',
        '{"url": "https://example.com/123/water_bottle-sport", "tags": "sport,bottle",'
        ' "custom_field": [1, 2], "vars": {"brand": "X"}, "spider": 1, "date": "2026-03-01"}',
    )
    assert report.ok, report.render()
    assert report.summary() == "3 lines, all valid; 1 repeated item"


def test_a_line_names_its_item_by_id_and_key_or_by_url(tmp_path: Path) -> None:
    """The content API recommends `id` (the URL by default; a SKU with `key: sku`) and keeps
    `url` for backward compatibility: either names the item, and repeats are counted by
    what they name (an `id` and a `url` of the same page are one item)."""
    report = check_lines(
        tmp_path,
        '{"id": "https://example.com/a", "title": "A"}',
        '{"url": "https://example.com/a", "inventory": 3}',
        '{"id": "https://example.com/b", "key": "url"}',
        '{"id": "WB-OUT", "key": "sku", "inventory": 46}',
        '{"id": "WB-OUT", "key": "sku", "url": "https://example.com/c"}',
        '{"id": "https://example.com/WB-OUT"}',
    )
    assert report.ok, report.render()
    assert report.summary() == "6 lines, all valid; 2 repeated items"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"title": "No url"}', "line 1: id: add `id` (the page's URL) or `url`: content is"),
        ('{"id": "", "url": ""}', "line 1: id: add `id` (the page's URL) or `url`"),
        (
            '{"id": "WB-OUT"}',
            "line 1: id: 'WB-OUT' is not an http(s) URL: `id` is the page's "
            "URL unless `key: sku` says it is a SKU",
        ),
        ('{"id": "WB-OUT", "key": "url"}', "line 1: id: 'WB-OUT' is not an http(s) URL"),
        (
            '{"id": "WB-OUT", "key": "SKU"}',
            "line 1: key: expected url or sku (what `id` holds), got 'SKU'",
        ),
        (
            '{"id": ["WB"], "key": "sku"}',
            "line 1: id: with `key: sku`, `id` is the item's SKU (text), got a list",
        ),
        (
            '{"url": "https://e.com/a", "key": "sku"}',
            "line 1: key: `key` says what `id` holds: add `id`, or remove `key`",
        ),
        (
            '{"id": "https://e.com/a", "url": "https://e.com/b"}',
            "line 1: url: names another "
            "page than `id` ('https://e.com/a'): keep `id`, remove `url`",
        ),
        ('{"id": "WB", "key": "sku", "url": "e.com/b"}', "line 1: url: 'e.com/b' is not an"),
        ('{"url": "example.com/a"}', "line 1: url: 'example.com/a' is not an http(s) URL"),
        ('{"url": "https://e.com/a", "title": 3}', "line 1: title: expected text, got a number"),
        ('{"url": "https://e.com/a", "tags": [1]}', "line 1: tags: expected a list of text"),
        ('{"url": "https://e.com/a", "price": 9.99}', "line 1: price: expected a whole number"),
        (
            '{"url": "https://e.com/a", "price": -1}',
            "line 1: price: expected a whole number of 0 or more (price in cents), got -1",
        ),
        (
            '{"url": "https://e.com/a", "inventory": "4"}',
            "line 1: inventory: expected a whole number of 0 or more, got '4'",
        ),
        ('{"url": "https://e.com/a", "vars": [1]}', "line 1: vars: expected an object"),
        ('{"url": "https://e.com/a", "spider": true}', "line 1: spider: expected 1"),
        ('{"url": "https://e.com/a", "expire_date": "soon"}', "line 1: expire_date: 'soon' is"),
        ('["https://e.com/a"]', "line 1: the file is a JSON array; it needs one JSON object"),
    ],
)
def test_a_bad_content_line_is_named(tmp_path: Path, line: str, problem: str) -> None:
    report = check_lines(tmp_path, line)
    assert not report.ok
    assert report.problems[0].render().startswith(problem), report.problems[0].render()


def test_validate_deep_reports_the_bad_line_of_the_feed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "feed.jsonl",
        '{"url": "https://e.com/a"}\n{"url": "https://e.com/b", "price": "1"}\n',
    )
    path = manifest(tmp_path, "feed:\n  job: content_update\n  file: feed.jsonl\n")
    result = CliRunner().invoke(cli, ["validate", str(path), "--deep"])
    assert result.exit_code == 2, result.output
    assert "1 of 2 lines invalid; line 2: price: expected a whole number" in result.output


# --- the manifests, end to end on the sandbox -----------------------------------------------


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    """The repository's manifests/ folder copied: exports land in the test's folder."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path / "manifests"


def list_names(sandbox: Sandbox) -> set[str]:
    with sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3") as db:
        return {name for (name,) in db.execute("SELECT name FROM lists")}


def content_urls(sandbox: Sandbox) -> set[str]:
    with sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3") as db:
        return {url for (url,) in db.execute("SELECT url FROM content")}


def test_content_refresh_updates_the_feed_then_deletes_expired(
    run_on_sandbox, sandbox: Sandbox, manifests_copy: Path
) -> None:
    before = content_urls(sandbox)
    expired = {f"https://example.com/articles/00{n}" for n in (1, 2, 3)}  # the demo's
    assert expired <= before
    result = run_on_sandbox(manifests_copy / "content-refresh.yaml")
    assert {job.status for job in result.jobs.values()} == {"succeeded"}, result.jobs
    assert result.jobs["delete-expired"].outputs["deleted_count"] == 3
    after = content_urls(sandbox)
    assert after == (before - expired) | {
        "https://example.com/articles/011",
        "https://example.com/products/water-bottle-outdoor",
        "https://example.com/products/water-bottle-sport",
    }
    # article 004 was extended by the feed, so it survives with its new title
    with sqlite3.connect(sandbox.data_dir / "sandbox.sqlite3") as db:
        title = db.execute(
            "SELECT title FROM content WHERE url = 'https://example.com/articles/004'"
        ).fetchone()
    assert title == ("Spring sale: last week",)


def test_erase_old_lists_keeps_a_copy_then_erases_the_promo_list(
    run_on_sandbox, sandbox: Sandbox, manifests_copy: Path
) -> None:
    result = run_on_sandbox(manifests_copy / "erase-old-lists.yaml")
    assert {job.status for job in result.jobs.values()} == {"succeeded"}, result.jobs
    copy = (manifests_copy.parent / "exports" / "spring-2025-promo.csv").read_text()
    assert len(copy.splitlines()) == 6  # a header and its five members
    assert list_names(sandbox) == {"Main Newsletter", "Engaged", "VIP", "Empty List"}
    assert result.jobs["erase-promo-lists"].outputs["name"] == "Bulk List Erase: 1 requested"
    assert result.jobs["erase-promo-lists"].warnings == []


def test_a_delete_or_erase_that_found_nothing_completes_with_a_warning(run_on_sandbox) -> None:
    result = run_on_sandbox(
        "version: 1\nname: t\njobs:\n"
        "  erase:\n    job: list_erase\n    lists: [Spring 2024 Promo]\n    confirm: true\n"
        "  expired:\n    job: delete_content\n    expired_only: true\n"
        "    start_date: 20000101\n    end_date: 20000131\n    confirm: true\n"
    )
    assert {job.status for job in result.jobs.values()} == {"succeeded"}
    assert result.jobs["erase"].warnings == [
        "list_erase completed, but these lists were not found: 'Spring 2024 Promo'"
    ]
    assert result.jobs["expired"].warnings == [
        "delete_content completed but no content matched: nothing was deleted"
    ]


def test_lists_may_not_come_from_a_variable(run_on_sandbox, sandbox: Sandbox) -> None:
    """What a reviewed manifest erases is written in it: a --var could change it after."""
    text = (
        "version: 1\nname: t\nvars:\n  old: [Spring 2025 Promo]\njobs:\n"
        "  erase:\n    job: list_erase\n    lists: ${{ vars.old }}\n    confirm: true\n"
    )
    with pytest.raises(ManifestError, match=r"jobs.erase.lists: list_erase deletes data: write"):
        run_on_sandbox(text)
    assert "Spring 2025 Promo" in list_names(sandbox)
    assert sandbox.submissions() == []


def test_a_content_update_whose_answer_is_lost_is_not_sent_again(
    run_on_sandbox, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The sandbox made the job, then the connection dropped before its answer: the runner
    cannot know, and a content_update is not resent (a second slot, report and overwrite)."""
    write(tmp_path, "feed.jsonl", '{"url": "https://example.com/a", "title": "A"}\n')
    sandbox.faults.drop_next(1, after_body=True, method="POST", path="/job")
    result = run_on_sandbox(
        manifest(tmp_path, "feed:\n  job: content_update\n  file: feed.jsonl\n")
    )
    job = result.jobs["feed"]
    assert job.status == "failed" and "not submitted again" in job.error, job.error
    assert len(sandbox.submissions("content_update")) == 1


def test_a_run_with_a_bad_feed_uploads_nothing(
    run_on_sandbox, sandbox: Sandbox, tmp_path: Path
) -> None:
    write(tmp_path, "feed.jsonl", '{"url": "https://e.com/a"}\n{"url": "e.com/b"}\n')
    path = manifest(tmp_path, "feed:\n  job: content_update\n  file: feed.jsonl\n")
    with pytest.raises(ManifestError) as refused:  # pre-flight, before the first POST
        run_on_sandbox(path)
    assert "line 2: url: 'e.com/b' is not an http(s) URL" in str(refused.value)
    assert sandbox.submissions() == []
