"""``sailjobs run --sandbox --seed FILE``: a production manifest with its own list names runs
end to end on its own data; ``--seed demo`` (the default) writes the same CSV files every run."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runner.cli import cli

REPO = Path(__file__).resolve().parents[2]
SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
REHEARSAL_SEED = "manifests/data/rehearsal-seed.yaml"


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    """The repository's manifests/ folder copied: exports land in the test's folder."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


def run_cli(folder: Path, *args: str) -> Result:
    """``sailjobs run`` in-process on files of ``folder``, the run state in ``folder/st``."""
    paths = [str(folder / arg) if arg.startswith("manifests/") else arg for arg in args]
    return CliRunner().invoke(cli, ["run", *paths, "--state", str(folder / "st")])


def test_a_production_manifest_rehearses_on_its_own_seed(manifests_copy: Path) -> None:
    result = run_cli(manifests_copy, "manifests/rehearsal.yaml", "--sandbox", "--seed",
                     REHEARSAL_SEED)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "succeeded: 6 succeeded" in result.output
    exports = manifests_copy / "exports" / "weekly-crm"
    with open(exports / "digest.csv", newline="") as file:
        digest = list(csv.DictReader(file))
    # The seed's three users of the list, then the two new addresses of the import.
    assert [row["first_name"] for row in digest] == ["Ann", "Bob", "Chloe", "", ""]
    assert [row["plan"] for row in digest][:3] == ["pro", "free", "plus"]
    customers = (exports / "customers.csv").read_text().splitlines()
    assert customers[0].startswith("Profile Id,Email Hash,Purchase Count,Purchase Price")
    assert len(customers) == 3
    assert len((exports / "win-back.csv").read_text().splitlines()) == 1  # exists, empty
    assert len((exports / "purchases-last-7-days.csv").read_text().splitlines()) == 3
    assert len((exports / "scheduled_sends.csv").read_text().splitlines()) == 4


def test_without_its_seed_the_rehearsal_fails_on_the_list_names(manifests_copy: Path) -> None:
    # The demo data has no "Weekly Digest": what the seed file is for.
    result = run_cli(manifests_copy, "manifests/rehearsal.yaml", "--sandbox")
    assert result.exit_code == 1
    assert "List not found" in result.output


def test_a_users_csv_seed_is_enough_for_list_exports(manifests_copy: Path) -> None:
    result = run_cli(manifests_copy, "manifests/rehearsal.yaml", "--sandbox", "--seed",
                     "manifests/data/rehearsal-users.csv", "--select", "+export-digest")  # fmt: skip
    assert result.exit_code == 0, result.output
    digest = (manifests_copy / "exports" / "weekly-crm" / "digest.csv").read_text()
    assert len(digest.splitlines()) == 6


def test_a_bad_seed_file_stops_the_run_before_anything_is_sent(manifests_copy: Path) -> None:
    seed = manifests_copy / "bad-seed.csv"
    seed.write_text("email,lists\nann@example,Weekly Digest\n")
    result = run_cli(manifests_copy, "manifests/rehearsal.yaml", "--sandbox", "--seed", str(seed))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"{seed}:2:1: email: not an email address: 'ann@example'",
        f"1 problem in the seed file {seed}; the sandbox did not start",
    ]
    assert not (manifests_copy / "exports").exists()


def test_seed_needs_the_sandbox(manifests_copy: Path) -> None:
    result = run_cli(manifests_copy, "manifests/rehearsal.yaml", "--seed", "demo")
    assert result.exit_code == 2
    assert "--seed gives the embedded sandbox its data: add --sandbox" in result.output


def written_files(folder: Path, before: set[Path]) -> dict[str, bytes]:
    """Every file under ``folder`` that a run wrote (not in ``before``, not its state)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path not in before and ".sailjobs" not in path.parts
    }


@pytest.mark.slow
def test_two_demo_runs_write_byte_identical_csv_files(tmp_path: Path) -> None:
    """Whatever the demo's jobs are: every CSV of one run equals the other run's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")}
    runs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        shutil.copytree(REPO / "manifests", folder / "manifests")
        before = {path for path in folder.rglob("*")}
        done = subprocess.run(
            [SAILJOBS, "run", "manifests/demo.yaml", "--sandbox"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(written_files(folder, before))
    csv_files = [name for name in runs[0] if name.endswith(".csv")]
    assert csv_files, "the demo wrote no CSV file"
    assert sorted(runs[0]) == sorted(runs[1])
    for name in csv_files:
        assert runs[0][name] == runs[1][name], f"{name} differs between two demo runs"
