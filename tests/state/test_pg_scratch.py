"""What a database state keeps on this machine (split parts, download claims) lives in a
private folder of its own, and its locks are its database's alone."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

from runner.executor.lifecycle import run
from runner.executor.state import DEFAULT_STATE_DIR, StateLocation

MANIFEST = """\
version: 1
name: scratch
jobs:
  vip:
    job: export_list_data
    list: VIP
    on_success:
      - download: {path: out/vip.csv}
"""


def test_a_database_state_leaves_a_folder_state_beside_it_usable(
    sandbox, sandbox_client, postgres_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text(MANIFEST)
    assert run("m.yaml", client=sandbox_client, state=postgres_url).succeeded
    scratch = StateLocation(postgres_url).scratch_dir
    assert scratch.parent == DEFAULT_STATE_DIR and scratch.is_dir()
    for folder in (DEFAULT_STATE_DIR, scratch):  # private, as a state folder is
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    # The default folder state there is not taken for one whose state.db was lost.
    (tmp_path / "out" / "vip.csv").unlink()
    assert run("m.yaml", client=sandbox_client).succeeded


def test_a_lock_is_held_in_its_own_database_only(postgres_cluster, postgres_url: str) -> None:
    other = postgres_cluster.create_database(f"other_{uuid.uuid4().hex[:8]}")
    try:
        with (
            StateLocation(postgres_url).open() as here,
            here.lock("k", Path("m.yaml")),
            StateLocation(other).open() as there,
        ):
            assert here.lock_held("k") and not there.lock_held("k")
    finally:
        postgres_cluster.drop_database(other.rsplit("/", 1)[-1].split("?")[0])
