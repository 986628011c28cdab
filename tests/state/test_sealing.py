"""Links kept out of the run state (runner.executor.state.sealing): an export URL is withheld
(its host only) or, with SAILJOBS_STATE_KEY, encrypted. A run that needs a withheld link
again asks Sailthru for a fresh one (runner.executor.withheld): a retried download, a split
job's parts (each from its own job), a borrowed output (before anything is sent; when
Sailthru gives none, the run stops with nothing sent: a placeholder is never a parameter)."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from runner.executor.lifecycle import RunSetupError
from runner.executor.progress import Progress
from runner.executor.state import SQLiteState, StateError
from runner.executor.state.sealing import KEY_ENV, Sealer
from runner.manifest.selection import Selection
from runner.results import JobStatus

KEY = "kJd5yM8bq0B6o8o0nqv1mDWqgqf2cKc4yZ2Yk0mX0Ys="  # a Fernet key (32 url-safe bytes)
URL = "https://exports.example.com/a1b2c3d4e5f6/list.csv?sig=0123456789abcdef"

EXPORT_AND_DOWNLOAD = """\
version: 1
name: sealing
jobs:
  vip:
    job: export_list_data
    list: VIP
    on_success:
      - download: {path: out/vip.csv}
"""


def test_without_a_key_a_link_is_kept_as_its_host_only() -> None:
    sealer = Sealer(None)
    stored = sealer.seal({"export_url": URL, "rows": 3, "parts": [{"url": URL}]})
    assert URL not in str(stored)
    opened, withheld = sealer.open(stored)
    assert withheld
    assert opened == {
        "export_url": "https://exports.example.com/***",
        "rows": 3,
        "parts": [{"url": "https://exports.example.com/***"}],
    }


def test_with_a_key_a_link_is_stored_encrypted_and_read_back() -> None:
    stored = Sealer(KEY).seal({"export_url": URL})
    assert URL not in str(stored) and "exports.example.com" not in str(stored)
    assert Sealer(KEY).open(stored) == ({"export_url": URL}, False)
    # Without the key, or with another one: as if not kept.
    assert Sealer(None).open(stored) == ({"export_url": "***"}, True)
    other = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    assert Sealer(other).open(stored)[1] is True


def test_a_key_that_is_not_a_fernet_key_is_one_clear_error() -> None:
    with pytest.raises(StateError, match=f"{KEY_ENV} is not a key sailjobs can use"):
        Sealer("not-a-key")


@pytest.mark.parametrize("key", [None, KEY], ids=["withheld", "encrypted"])
def test_the_state_file_never_holds_an_export_link(
    run_on_sandbox, tmp_path: Path, key: str | None
) -> None:
    env = {KEY_ENV: key} if key else {}
    result = run_on_sandbox(EXPORT_AND_DOWNLOAD, env=env)
    assert result.succeeded
    link = result.jobs["vip"].outputs["export_url"]
    assert link.startswith("http")
    token = link.rsplit("/", 1)[-1].split("?")[0]  # the capability part of the link
    db = tmp_path / ".sailjobs" / "state.db"
    with sqlite3.connect(db) as conn:  # every column of every row, as text
        dump = "\n".join(conn.iterdump())
    conn.close()
    assert token not in dump and link not in dump
    with SQLiteState(tmp_path / ".sailjobs") as state:
        state.sealer = Sealer(key)
        record = state.jobs(result.run_id)["vip"]
    assert record.withheld is (key is None)
    assert (record.outputs["export_url"] == link) is (key is not None)


def test_a_retried_download_gets_a_fresh_link_from_sailthru(
    run_on_sandbox, sandbox, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        EXPORT_AND_DOWNLOAD.replace(
            "jobs:", "defaults:\n  retry: {attempts: 2, initial: 0.1s}\njobs:"
        )
    )
    sandbox.faults.cut_next_downloads(5)  # every attempt of the download is cut short
    first = run_on_sandbox(manifest)
    assert not first.succeeded  # the export succeeded; its download failed
    assert first.jobs["vip"].actions[0].succeeded is False

    # The state kept only the link's host: the retry asks Sailthru for it again.
    sandbox.faults.clear()
    again = run_on_sandbox(manifest, retry_failed=True)
    assert again.succeeded and again.run_id == first.run_id
    assert again.jobs["vip"].status is JobStatus.SUCCEEDED
    assert (tmp_path / "out" / "vip.csv").read_text().startswith("Profile Id,")


SPLIT = """\
version: 1
name: split
jobs:
  purchases:
    job: export_purchase_log
    start_date: "{start}"
    end_date: "{end}"
    split: true
    retry: {{attempts: 2, initial: 0.1s, max: 0.1s}}
    on_success:
      - download: {{path: out/}}
"""

BORROWING = """\
version: 1
name: sealing
jobs:
  vip:
    job: export_list_data
    list: VIP
  b:
    job: export_list_data
    list: VIP
    postback_url: ${{ jobs.vip.outputs.export_url }}
"""


def test_a_borrowed_link_is_fetched_again_never_sent_as_its_placeholder(
    run_on_sandbox, sandbox
) -> None:
    first = run_on_sandbox(BORROWING)
    assert first.succeeded
    link = first.jobs["vip"].outputs["export_url"]

    # b alone: vip's outputs come from the state, which kept only the link's host.
    again = run_on_sandbox(BORROWING, selection=Selection.of(["b"]))
    assert again.succeeded, again.jobs["b"].error
    sent = [job.get("postback_url") for job in sandbox.submissions("export_list_data")]
    assert sent[-1] == link  # the real link, as the first run sent it
    assert "***" not in sent[-1]


def test_a_borrowed_link_sailthru_no_longer_gives_stops_the_run_before_sending(
    run_on_sandbox, sandbox
) -> None:
    assert run_on_sandbox(BORROWING).succeeded
    sent_before = len(sandbox.submissions())
    sandbox.expire_exports()  # GET /job says expired: no link to give
    with pytest.raises(RunSetupError) as refused:
        run_on_sandbox(BORROWING, selection=Selection.of(["b"]))
    message = str(refused.value)
    assert "b reads vip's outputs" in message and "--select +b" in message
    assert "***" not in message
    assert len(sandbox.submissions()) == sent_before  # nothing sent


def test_a_split_export_whose_download_was_cut_is_retried_from_its_parts_links(
    run_on_sandbox, sandbox, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    end = date.today()
    start, end = f"{end - timedelta(days=39):%Y%m%d}", f"{end:%Y%m%d}"  # 40 days: 2 parts
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(SPLIT.format(start=start, end=end))
    sandbox.faults.cut_next_downloads(100)  # every part download is cut short
    first = run_on_sandbox(manifest)
    assert first.jobs["purchases"].status is JobStatus.FAILED
    parts = first.jobs["purchases"].outputs["parts"]
    assert len(parts) == 2

    sandbox.faults.clear()
    again = run_on_sandbox(manifest, retry_failed=True)
    job = again.jobs["purchases"]
    assert again.succeeded and again.run_id == first.run_id, job.error
    saved = tmp_path / "out" / f"purchases-{start}-{end}.csv"
    rows = list(csv.reader(io.StringIO(saved.read_text())))
    assert rows.count(rows[0]) == 1  # one header
    assert len(rows) - 1 == job.outputs["rows"] > 0  # both parts' rows
    # Each part's link came from its own job: the parts' joined id was never asked for.
    assert [
        log for log in sandbox.request_log if log[:2] == ("GET", "/job") and log[2] != 200
    ] == []


def test_a_borrowed_link_not_given_again_stops_nothing_already_submitted(
    run_on_sandbox, sandbox, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        BORROWING + "    retry: {attempts: 1}\n    on_success:\n      - download: {path: b.csv}\n"
    )
    sandbox.faults.cut_next_downloads(5)
    first = run_on_sandbox(manifest)
    assert first.jobs["b"].actions[0].succeeded is False  # b is at Sailthru; its download failed
    sent_before = len(sandbox.submissions())
    sandbox.faults.clear()
    sandbox.expire_exports()

    # b is not submitted again (its download is what is retried): vip's link is not needed
    # to send anything, so the run goes on, saying the link is gone.
    warnings: list[str] = []

    class Warnings(Progress):
        def message(self, text: str, level: str = "info") -> None:  # type: ignore[override]
            if level == "warning":
                warnings.append(text)

    again = run_on_sandbox(
        manifest, retry_failed=True, selection=Selection.of(["b"]), progress=Warnings()
    )
    assert again.run_id == first.run_id
    assert len(sandbox.submissions()) == sent_before  # nothing sent
    assert any(text.startswith("vip's outputs from run") for text in warnings), warnings


def test_a_retry_asks_again_only_for_the_links_it_still_reads(
    run_on_sandbox, sandbox, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        EXPORT_AND_DOWNLOAD.replace(
            "jobs:", "defaults:\n  retry: {attempts: 2, initial: 0.1s}\njobs:"
        )
        + "  sends:\n    job: export_scheduled_sends\n"  # finished, read by nothing
    )
    sandbox.faults.cut_next_downloads(5)
    assert not run_on_sandbox(manifest).succeeded
    sandbox.faults.clear()
    before = len(sandbox.request_log)

    assert run_on_sandbox(manifest, retry_failed=True).succeeded
    asked = [entry for entry in sandbox.request_log[before:] if entry[:2] == ("GET", "/job")]
    assert len(asked) == 1  # vip's link, for its download; not sends' finished export
