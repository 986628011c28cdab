"""Which run a run resumes, on both backends: a manifest is named by its path in its git
repository (a checkout in another folder, on another machine, is the same manifest), a
state written with sailjobs 0.2's key is re-keyed by ``run``, and ``--run-key`` keeps runs
of one manifest apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from executor_helpers import manifest_text
from sailjobs_process import make_checkout

from runner.executor.lifecycle import RunSetupError, run
from runner.executor.state import StateLocation, legacy_manifest_key, run_key
from runner.files import file_sha256

MANIFEST = manifest_text("exp:\n  job: export_scheduled_sends\n")


def checkout(folder: Path) -> Path:
    """The manifest ``jobs/m.yaml`` of a repository checked out in ``folder``."""
    make_checkout(folder)
    (folder / "jobs").mkdir()
    path = folder / "jobs" / "m.yaml"
    path.write_text(MANIFEST)
    return path


def interrupted_with_a_job_id(location: str, path: Path, key: str, job_id: str) -> None:
    """A run as a killed process left it: its export submitted (job_id known), not done."""
    with StateLocation(location).open() as state:
        state.start_run("r-old", key, path, "t", file_sha256(path))
        state.add_job("r-old", "exp", "export_scheduled_sends")
        state.record_intent("r-old", "exp", {}, attempts=1)
        state.record_submitted("r-old", "exp", job_id, "pending")


def test_a_checkout_in_another_folder_resumes_the_same_run(
    state_location: str, sandbox, client_for, tmp_path: Path
) -> None:
    client = client_for(sandbox)
    on_a, on_b = checkout(tmp_path / "machine-a"), checkout(tmp_path / "machine-b")
    info = client.submit_job({"job": "export_scheduled_sends"})
    interrupted_with_a_job_id(state_location, on_a, run_key(on_a), info.job_id)

    result = run(on_b, client=client, state=state_location)

    assert result.run_id == "r-old" and result.succeeded
    assert result.jobs["exp"].remote_job_id == info.job_id
    assert len(sandbox.submissions()) == 1  # polled, never submitted again


def test_a_run_recorded_under_the_key_of_sailjobs_0_2_is_resumed_after_the_upgrade(
    state_location: str, sandbox, client_for, tmp_path: Path
) -> None:
    client = client_for(sandbox)
    path = checkout(tmp_path / "repo")
    assert legacy_manifest_key(path) != run_key(path)  # in a repository the key changed
    info = client.submit_job({"job": "export_scheduled_sends"})
    interrupted_with_a_job_id(state_location, path, legacy_manifest_key(path), info.job_id)

    result = run(path, client=client, state=state_location)

    assert result.run_id == "r-old" and result.succeeded
    assert len(sandbox.submissions()) == 1
    with StateLocation(state_location).open() as state:
        assert [r.run_id for r in state.runs(run_key(path))] == ["r-old"]


def test_after_the_upgrade_a_run_finished_under_the_old_key_is_run_again(
    state_location: str, sandbox, client_for, tmp_path: Path
) -> None:
    client = client_for(sandbox)
    path = checkout(tmp_path / "repo")
    first = run(path, client=client, state=state_location)
    with StateLocation(state_location).open() as state:  # as sailjobs 0.2 recorded it
        state.rekey(run_key(path), legacy_manifest_key(path))

    again = run(path, client=client, state=state_location)

    # A new run, not "nothing left to do" as if the old run had finished while it waited.
    assert again.run_id != first.run_id and again.succeeded
    assert len(sandbox.submissions()) == 2
    with StateLocation(state_location).open() as state:
        assert {r.run_id for r in state.runs(run_key(path))} == {first.run_id, again.run_id}


def test_a_run_key_resumes_only_the_run_with_the_same_key(
    state_location: str, sandbox, client_for, tmp_path: Path
) -> None:
    client = client_for(sandbox)
    path = checkout(tmp_path / "repo")
    info = client.submit_job({"job": "export_scheduled_sends"})
    key = run_key(path, run_key="2026-01-01")
    interrupted_with_a_job_id(state_location, path, key, info.job_id)

    other_day = run(path, client=client, state=state_location, named="2026-01-02")
    without = run(path, client=client, state=state_location)
    same_day = run(path, client=client, state=state_location, named="2026-01-01")

    assert other_day.run_id != "r-old" and without.run_id not in ("r-old", other_day.run_id)
    assert same_day.run_id == "r-old" and same_day.succeeded
    # One submission each for the new runs; the stored job_id was polled.
    assert len(sandbox.submissions()) == 3


def test_the_same_path_in_two_repositories_is_two_manifests(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    make_checkout(ours, "https://github.com/acme/pipelines.git")
    make_checkout(theirs, "https://github.com/acme/other-team.git")
    local_a, local_b = tmp_path / "local-a", tmp_path / "local-b"
    (local_a / ".git").mkdir(parents=True)  # no origin: each checkout is its own
    (local_b / ".git").mkdir(parents=True)
    keys = {run_key(folder / "m.yaml") for folder in (ours, theirs, local_a, local_b)}
    assert len(keys) == 4


def test_an_origin_names_its_repository_in_any_of_its_url_forms(tmp_path: Path) -> None:
    forms = [
        "https://github.com/Acme/pipelines.git",
        "git@github.com:Acme/pipelines.git",
        "ssh://git@github.com/Acme/pipelines",
        "https://x-access-token:ghs_secret@github.com/Acme/pipelines/",
    ]
    keys = {
        run_key(make_checkout(tmp_path / str(i), form) / "m.yaml") for i, form in enumerate(forms)
    }
    assert len(keys) == 1


def test_a_run_key_is_kept_with_the_run_and_in_the_command_that_repeats_it(
    state_location: str, sandbox, client_for, tmp_path: Path
) -> None:
    from runner.executor.history import load_run

    path = checkout(tmp_path / "repo")
    done = run(path, client=client_for(sandbox), state=state_location, named="eu-2026-01-02")
    with StateLocation(state_location).open() as state:
        assert state.run(done.run_id).run_key == "eu-2026-01-02"
        rebuilt = load_run(state, done.run_id, StateLocation(state_location))
    assert "--run-key eu-2026-01-02" in rebuilt.command  # `show`'s advice: this run's key
    assert not rebuilt.options.get("sandbox")  # a key ending "-02" is no sandbox run


@pytest.mark.parametrize("bad", ["a#b", "eu@prod", "nightly-sandbox", "", "x" * 101, "-x"])
def test_a_run_key_that_the_state_could_not_keep_apart_is_refused(bad: str, tmp_path: Path) -> None:
    path = checkout(tmp_path / "repo")
    with pytest.raises(RunSetupError, match="--run-key"):
        run(path, state=tmp_path / "st", named=bad)


def test_outside_a_repository_a_run_key_names_the_manifest_on_every_machine(
    tmp_path: Path,
) -> None:
    on_a, on_b = tmp_path / "build-17" / "m.yaml", tmp_path / "other" / "m.yaml"
    assert run_key(on_a) != run_key(on_b)  # its absolute path: no other machine has it
    assert run_key(on_a, run_key="nightly") == run_key(on_b, run_key="nightly")
