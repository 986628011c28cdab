"""The invalid corpus: each manifest under invalid/ gives exactly its golden output.

A golden file is the exact stdout of ``sailjobs validate <file>`` run from the repository
root, except for ``<INSTALLED_ACTIONS>``, which stands for the installed action types (they
depend on the plugins present). Regenerate one after a deliberate change with
``SAILJOBS_UPDATE_GOLDEN=1 pytest tests/manifest/test_invalid_corpus.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli

HERE = Path(__file__).parent
REPO = HERE.parent.parent
CORPUS = sorted((HERE / "invalid").glob("*.yaml"))
PLACEHOLDER = "<INSTALLED_ACTIONS>"


def _installed_actions() -> str:
    from runner.plugins import action_types

    return ", ".join(sorted(action_types())) or "none"


def _validate(relative: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", relative], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 25
    assert all(path.with_suffix(".expected").exists() for path in CORPUS)


@pytest.mark.parametrize("manifest", CORPUS, ids=[path.stem for path in CORPUS])
def test_golden_output(manifest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    relative = manifest.relative_to(REPO).as_posix()
    exit_code, stdout = _validate(relative)
    golden = manifest.with_suffix(".expected")
    installed = _installed_actions()
    if os.environ.get("SAILJOBS_UPDATE_GOLDEN") == "1":
        golden.write_text(stdout.replace(f"installed actions: {installed}", PLACEHOLDER))
    expected = golden.read_text().replace(PLACEHOLDER, f"installed actions: {installed}")
    assert exit_code == 2
    assert stdout == expected
    lines = stdout.splitlines()
    assert lines, "an invalid manifest prints at least one problem"
    assert all(line.startswith(f"{relative}:") for line in lines)
    assert "Traceback" not in stdout


def test_whole_corpus_as_a_real_process_exit_2_without_traceback():
    """One real process over the whole folder: every problem, exit 2, no traceback."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from runner.cli import main; main()",
            "validate",
            "tests/manifest/invalid",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    expected_lines = sum(
        len(path.with_suffix(".expected").read_text().splitlines()) for path in CORPUS
    )
    assert len(result.stdout.splitlines()) == expected_lines
    assert f"in {len(CORPUS)} of {len(CORPUS)} manifests" in result.stderr


def test_a_50_mb_manifest_fails_fast_with_one_line(tmp_path: Path, monkeypatch):
    big = tmp_path / "big.yaml"
    with big.open("w") as out:
        out.write("version: 1\nname: big\njobs:\n")
        line = "  # " + "x" * 1020 + "\n"
        for _ in range(50 * 1024):
            out.write(line)
    assert big.stat().st_size > 50 * 1024 * 1024
    monkeypatch.chdir(tmp_path)
    exit_code, stdout = _validate("big.yaml")
    assert exit_code == 2
    assert stdout == (
        "big.yaml:1:1: the file is 50.0 MB; a manifest may be at most 10 MB: "
        "split it or move data into files\n"
    )
