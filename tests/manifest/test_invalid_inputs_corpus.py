"""The corpus of bad input given on the command line: each case gives exactly its output.

A case is a folder under ``invalid_inputs/``: a ``command`` file (the sailjobs arguments, one
line, split like a shell does), the files it names, and ``expected``: the exit code
(``exit N``) and then what the command printed (stdout and stderr, in order), run with the
case folder as the working directory. Regenerate one after a deliberate change with
``SAILJOBS_UPDATE_GOLDEN=1 pytest tests/manifest/test_invalid_inputs_corpus.py``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import cli

CORPUS = sorted(
    path for path in (Path(__file__).parent / "invalid_inputs").iterdir() if path.is_dir()
)


def test_every_case_is_complete():
    assert len(CORPUS) >= 5
    for case in CORPUS:
        assert (case / "command").is_file(), case
        assert (case / "expected").is_file(), case


@pytest.mark.parametrize("case", CORPUS, ids=[path.name for path in CORPUS])
def test_golden_output(case: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(case)
    for name in ("SAILTHRU_API_KEY", "SAILTHRU_API_SECRET", "SAILTHRU_API_URL"):
        monkeypatch.delenv(name, raising=False)
    args = shlex.split((case / "command").read_text())
    # A run's state goes outside the corpus (nothing may be written into it).
    if args[0] == "run":
        args += ["--state", str(tmp_path / "state")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False, prog_name="sailjobs")
    got = f"exit {result.exit_code}\n{result.output}".replace(str(tmp_path), "<TMP>")
    golden = case / "expected"
    if os.environ.get("SAILJOBS_UPDATE_GOLDEN") == "1":
        golden.write_text(got)
    assert got == golden.read_text()
    assert result.exit_code == 2
    assert "Traceback" not in result.output
