"""A run state that cannot silently reset: a lost ``state.db`` beside the traces of earlier
runs is an error (an empty state would submit every import again), and a full disk while
writing the state is one clear line, exit 2, and the rerun resumes.

The full disk is a real tmpfs of a few hundred KiB (the tests run as root here; they skip
where mounting is not possible), filled by a real file: the first state write after it
fails, always the same one, so the outcome is the same on every run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from executor_helpers import manifest_text, sailjobs_on

from runner.cli import cli
from runner.executor.lifecycle import RunSetupError, run
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.results import JobSubmitted

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))

TWO_JOBS = """
    first:
      job: export_scheduled_sends
    second:
      job: export_scheduled_sends
      needs: [first]
"""


# -------------------------------------------------------------------------------------------
# state.db lost


@pytest.mark.parametrize("loss", ["empty", "missing"])
def test_a_lost_state_db_beside_an_earlier_runs_lock_is_an_error_until_fresh(
    loss: str, sandbox, client_for, write_manifest, tmp_path: Path
) -> None:
    path = write_manifest(
        manifest_text("""
            exp:
              job: export_scheduled_sends
              on_success:
                - download: {path: out/sends.csv, overwrite: always}
        """)
    )
    client, state = client_for(sandbox), tmp_path / "st"
    run(path, client=client, state=state)
    assert len(sandbox.submissions()) == 1
    db = state / "state.db"
    if loss == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    traces = sorted(p.relative_to(state).as_posix() for p in state.rglob("*") if p.is_file())

    # `sailjobs runs` says so too, rather than "no runs recorded".
    listed = CliRunner().invoke(cli, ["runs", "--state", str(state)])
    assert listed.exit_code == 2 and "remain from earlier runs" in listed.output

    with pytest.raises(RunSetupError) as raised:
        run(path, client=client, state=state)
    message = str(raised.value)
    what = "empty (0 bytes)" if loss == "empty" else "missing"
    assert f"the run state {db} is {what}" in message
    assert f"but 1 lock file in {state / 'locks'} remain from earlier runs" in message
    assert message.endswith(f"`sailjobs run {path} --state {state} --fresh`")
    assert len(sandbox.submissions()) == 1  # nothing was sent again

    # The command it names starts over, and deletes nothing it does not own.
    fresh = run(path, client=client, state=state, resume=False)
    assert fresh.succeeded and len(sandbox.submissions()) == 2
    for trace in traces:
        if trace != "state.db":
            assert (state / trace).exists(), trace


def test_a_new_state_folder_is_no_loss(sandbox, client_for, write_manifest, tmp_path) -> None:
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    assert run(path, client=client_for(sandbox), state=tmp_path / "new").succeeded


# -------------------------------------------------------------------------------------------
# a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs, unmounted after the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the device is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def sailjobs(workdir: Path, sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return sailjobs_on(sandbox, workdir, *args, **env)


def test_a_full_disk_before_the_run_is_one_line_exit_2_and_nothing_is_sent(
    sandbox, small_disk: Path, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text(manifest_text(TWO_JOBS))
    filler = fill(small_disk)
    state = small_disk.relative_to(tmp_path) / "st"

    done = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--state", str(state))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"error: no space left on the device of the run state folder {state}: free some "
        f"space, then run `sailjobs run m.yaml --state {state}`"
    ]
    assert "Traceback" not in done.stdout
    assert sandbox.submissions() == []
    assert not (small_disk / "st" / "state.db").exists()  # no empty state left behind

    filler.unlink()
    again = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--state", str(state))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(sandbox.submissions()) == 2


class _FillOnSubmit:
    """Fills the disk once ``job`` is submitted (and its job_id recorded)."""

    def __init__(self, disk: Path, job: str) -> None:
        self.disk, self.job = disk, job
        self.filler: Path | None = None

    @hookimpl
    def sailjobs_job_submitted(self, event: JobSubmitted) -> None:
        if event.id == self.job and self.filler is None:
            self.filler = fill(self.disk)


def test_a_disk_that_fills_during_the_run_stops_it_and_the_rerun_resumes(
    sandbox, client_for, write_manifest, small_disk: Path
) -> None:
    path = write_manifest(manifest_text(TWO_JOBS))
    state = small_disk / "st"
    filling = _FillOnSubmit(small_disk, "first")
    get_plugin_manager().register(filling, name="fill-on-submit")
    client = client_for(sandbox)

    with pytest.raises(RunSetupError) as raised:
        run(path, client=client, state=state)
    assert str(raised.value) == (
        f"no space left on the device of the run state folder {state}: free some space, "
        f"then run `sailjobs run {path} --state {state} --resume`"
    )
    assert len(sandbox.submissions()) == 1  # second was never sent

    assert filling.filler is not None
    filling.filler.unlink()
    resumed = run(path, client=client, state=state, resume=True)
    assert resumed.succeeded
    assert len(sandbox.submissions()) == 2  # first was polled, not submitted again
