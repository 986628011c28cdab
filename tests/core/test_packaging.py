"""The distributions build without setuptools' deprecation warnings: `make demo` printed
screens of them (`project.license` as a TOML table, issue 13)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT, *sorted((ROOT / "plugins").glob("sailjobs-*"))]
SPDX_SETUPTOOLS = 77  # the first setuptools that reads `license = "MIT"` (PEP 639)


@pytest.mark.parametrize(
    "project", PROJECTS, ids=lambda path: "sailjobs" if path == ROOT else path.name
)
def test_the_license_is_an_spdx_string_and_setuptools_reads_it(project: Path) -> None:
    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert data["project"]["license"] == "MIT"
    [setuptools] = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    bound = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools.replace(" ", ""))
    assert bound is not None and int(bound.group(1)) >= SPDX_SETUPTOOLS, setuptools


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_building_the_core_and_a_plugin_prints_no_deprecation_warning(tmp_path: Path) -> None:
    # Copies, so that the build leaves no build/ or *.egg-info in the repository.
    core = tmp_path / "sailjobs"
    core.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, core / name)
    shutil.copytree(ROOT / "runner", core / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    plugin = shutil.copytree(
        ROOT / "plugins" / "sailjobs-chat",
        tmp_path / "sailjobs-chat",
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path / "w"),
         str(core), str(plugin)],
        capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "deprecat" not in output.lower(), output[-3000:]
