"""Every benchmark runs end to end at a small size and prints its figures.

Not a timing check (the targets are met by running the scripts at full size, see README):
this keeps the scripts from rotting as the code they measure changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

CASES = {
    "validate.py": (["--jobs", "100", "--repeat", "1"], ["load_manifest + build_plan", "ratio:"]),
    "preflight.py": (["--size", "4MB"], ["json.loads loop:", "ratio:", "peak RSS:"]),
    "upload.py": (
        ["--size-mib", "16", "--rounds", "1"],
        ["time ratio ours/plain:", "our peak RSS:"],
    ),
    "download.py": (
        ["--size-mib", "16", "--rounds", "1"],
        ["time ratio ours/curl:", "our peak RSS:"],
    ),
    "sandbox_export.py": (["--sizes", "2000"], ["rows/s", "server peak RSS"]),
    "scheduler.py": (["--quick"], ["makespan", "status calls per job", "in flight"]),
    "hostile_yaml.py": (["--mb", "0.5"], ["alias-bomb-scalar", "s CPU)  peak RSS"]),
    "shared_budget.py": (["--quick"], ["429 answers received", "POST budget used", "makespan"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_figures(script: str, tmp_path: Path) -> None:
    args, expected = CASES[script]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout, f"{script} did not print {text!r}:\n{done.stdout}"
