"""Links kept out of the run state (runner.executor.state.sealing): an export URL is withheld
(its host only) or, with SAILJOBS_STATE_KEY, encrypted; a run that needs one again (a
retried download, a borrowed output) asks Sailthru for a fresh link."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.executor.state import SQLiteState, StateError
from runner.executor.state.sealing import KEY_ENV, Sealer
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
