"""The plugin guide's examples (the code of docs/plugins.md): acme-audit
(tests/plugins/example-plugin/, an action and a hook) and acme-members
(tests/plugins/example-jobtype/, a job type with its file check and sandbox kind) are built
and installed with pip, found through their entry points, listed by `sailjobs plugins`,
pass their own tests with our fixtures, and run from the command line as the guide shows."""

from __future__ import annotations

import csv
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
JOBTYPE_EXAMPLE = Path(__file__).parent / "example-jobtype"
GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"
BIN = Path(sys.executable).parent


def pip_install(example: Path, work: Path, name: str) -> dict[str, Path]:
    """``pip install`` an example (a copy: building writes into the project folder) into a
    folder of its own; the tests put that folder on the path, so nothing is left behind in
    the shared environment, whatever happens."""
    source = shutil.copytree(example, work / name)
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return {"site": site, "source": source}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    yield pip_install(EXAMPLE, tmp_path_factory.mktemp("example"), "acme-audit")
    sys.modules.pop("acme_audit", None)


@pytest.fixture(scope="module")
def installed_jobtype(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # Only ever imported by the subprocesses below.
    return pip_install(JOBTYPE_EXAMPLE, tmp_path_factory.mktemp("jobtype"), "acme-members")


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


def test_sailjobs_plugins_lists_the_job_type_example(installed_jobtype):
    done = subprocess.run(
        [str(BIN / "sailjobs"), "plugins"],
        capture_output=True, text=True, env=env_with(installed_jobtype["site"]), timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("acme-members "))
    assert lines[at].split() == [
        "acme-members", "0.1.0", "entry", "point", "(sailjobs-acme-members)", "(acme_members)",
    ]  # fmt: skip
    assert lines[at + 1] == "  hooks: sailjobs_job_types, sailjobs_sandbox_job_kinds"
    assert lines[at + 2] == "  job types: acme_member_export"


def test_the_job_type_examples_own_tests_pass_under_run_on_sandbox(installed_jobtype):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=installed_jobtype["source"], capture_output=True, text=True,
        env=env_with(installed_jobtype["site"]), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


def test_the_guides_job_type_steps_run_from_the_command_line(installed_jobtype, tmp_path):
    blocks = code_blocks()
    (tmp_path / "loyalty.yaml").write_text(blocks["loyalty.yaml"])
    (tmp_path / "members.jsonl").write_text(blocks["members.jsonl"])
    env = env_with(installed_jobtype["site"])

    def sailjobs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "sailjobs"), *args, str(tmp_path / "loyalty.yaml")],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    validated = sailjobs("validate", "--deep")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    done = sailjobs("run", "--sandbox", "--state", str(tmp_path / "st"))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "exports" / "loyalty-engagement.csv", newline="") as export:
        rows = list(csv.reader(export))
    assert rows[0] == ["Member Id", "Profile Id", "Email Hash", "Engagement", "Opens", "Clicks"]
    assert [row[0] for row in rows[1:]] == ["M-1001", "M-1002"]


def test_the_guides_job_type_refusals_are_what_validate_says(installed_jobtype, tmp_path):
    """The column typo (the type's check), then the bad line (pre-flight, by --deep)."""
    blocks = code_blocks()
    good_members = blocks["members.jsonl"]
    bad_members = good_members.replace("user002@example.com", "user002@example")
    said: list[str] = []
    for manifest, members in [
        (blocks["loyalty.yaml"].replace("opens", "opnes"), good_members),
        (blocks["loyalty.yaml"], bad_members),
    ]:
        (tmp_path / "loyalty.yaml").write_text(manifest)
        (tmp_path / "members.jsonl").write_text(members)
        done = subprocess.run(
            [str(BIN / "sailjobs"), "validate", "--deep", "loyalty.yaml"],
            capture_output=True, text=True, env=env_with(installed_jobtype["site"]),
            cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        said += [line for line in done.stdout.splitlines() if line.startswith(("loy", "mem"))]
    assert said == blocks["refused"].splitlines()


def code_blocks() -> dict[str, str]:
    """The guide's code blocks by their info string (``python acme_audit.py`` → file name)."""
    blocks: dict[str, str] = {}
    for info, body in re.findall(r"```([^\n]*)\n(.*?)```", GUIDE.read_text(), flags=re.S):
        words = info.split()
        key = words[1] if len(words) > 1 else (words[0] if words else "")
        blocks.setdefault(key, body)
    return blocks


EXAMPLE_FILES = ["pyproject.toml", "acme_audit.py", "tests/conftest.py", "tests/test_acme_audit.py"]
JOBTYPE_FILES = [
    "pyproject.toml", "acme_members.py", "acme_members_sandbox.py", "tests/test_acme_members.py",
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "path"),
    [(name, EXAMPLE / name) for name in EXAMPLE_FILES]
    + [(f"acme-members/{name}", JOBTYPE_EXAMPLE / name) for name in JOBTYPE_FILES],
)
def test_the_guide_shows_exactly_the_example_code(name, path):
    assert code_blocks()[name] == path.read_text()


def test_both_examples_share_the_one_line_conftest():
    conftest = "tests/conftest.py"
    assert (JOBTYPE_EXAMPLE / conftest).read_text() == code_blocks()[conftest]
