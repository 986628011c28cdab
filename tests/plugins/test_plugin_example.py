"""The plugin guide's example (tests/plugins/example-plugin/, the code of docs/plugins.md)
is built and installed with pip, found through its entry point, listed by `sailjobs
plugins`, passes its own tests with our fixtures, and its hook receives a run's results."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.plugins import reset_plugin_manager

EXAMPLE = Path(__file__).parent / "example-plugin"
GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """``pip install`` the example (a copy: building writes into the project folder) into a
    folder of its own; the tests put that folder on the path. Nothing is left behind in the
    shared environment, whatever happens."""
    work = tmp_path_factory.mktemp("example")
    source = shutil.copytree(EXAMPLE, work / "acme-audit")
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    yield {"site": site, "source": source}
    sys.modules.pop("acme_audit", None)


def env_with(site: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), **extra}


def test_sailjobs_plugins_lists_the_installed_example(installed):
    done = subprocess.run(
        [str(BIN / "sailjobs"), "plugins"],
        capture_output=True, text=True, env=env_with(installed["site"]), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("acme-audit "))
    assert lines[at].split() == [
        "acme-audit", "0.1.0", "entry", "point", "(sailjobs-acme-audit)", "(acme_audit)",
    ]  # fmt: skip
    assert lines[at + 1] == "  hooks: sailjobs_action_types, sailjobs_run_finished"
    assert lines[at + 2] == "  actions: audit_log"


def test_its_own_tests_pass_with_our_fixtures(installed):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=installed["source"], capture_output=True, text=True,
        env=env_with(installed["site"]), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_its_hook_receives_the_results_of_a_run_on_the_sandbox(
    installed, run_on_sandbox, monkeypatch, tmp_path
):
    monkeypatch.syspath_prepend(str(installed["site"]))
    monkeypatch.setenv("ACME_AUDIT_SUMMARY", str(tmp_path / "summary.json"))
    reset_plugin_manager()
    result = run_on_sandbox(
        """
version: 1
name: audited
defaults:
  poll: {initial: 0.05s, max: 0.2s}
jobs:
  vip:
    job: export_list_data
    list: VIP
    on_success:
      - audit_log: {path: audit.jsonl}
  broken:
    job: export_list_data
    list: No Such List Anywhere
    on_failure:
      - audit_log: {path: audit.jsonl, note: failed}
"""
    )
    assert {a.plugin for job in result.jobs.values() for a in job.actions} == {"acme-audit"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == {
        "run_id": result.run_id,
        "manifest": "audited",
        "succeeded": False,
        "jobs": {"vip": "succeeded", "broken": "failed"},
    }
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    notes = sorted(json.loads(line)["note"] for line in lines)
    assert notes == ["", "failed"]


def test_the_guides_steps_run_from_the_command_line(installed, tmp_path):
    manifest = tmp_path / "nightly.yaml"
    manifest.write_text(code_blocks()["nightly.yaml"])
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [str(BIN / "sailjobs"), "run", str(manifest), "--sandbox", "--state", str(tmp_path / "st")],
        capture_output=True, text=True, timeout=120,
        env=env_with(installed["site"], ACME_AUDIT_SUMMARY=str(summary)),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(summary.read_text())["jobs"] == {"export-vip": "succeeded"}
    assert (tmp_path / "audit" / "log.jsonl").read_text().count("\n") == 1


def code_blocks() -> dict[str, str]:
    """The guide's code blocks by their info string (``python acme_audit.py`` → file name)."""
    blocks: dict[str, str] = {}
    for info, body in re.findall(r"```([^\n]*)\n(.*?)```", GUIDE.read_text(), flags=re.S):
        words = info.split()
        key = words[1] if len(words) > 1 else (words[0] if words else "")
        blocks.setdefault(key, body)
    return blocks


@pytest.mark.parametrize(
    "name", ["pyproject.toml", "acme_audit.py", "tests/conftest.py", "tests/test_acme_audit.py"]
)
def test_the_guide_shows_exactly_the_example_code(name):
    assert code_blocks()[name] == (EXAMPLE / name).read_text()
