"""``sailjobs run`` as a user runs it: the demo end to end, and one clear line with exit 2
for everything the user must fix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from runner.cli import cli
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager

REPO = Path(__file__).resolve().parents[2]
SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """The repository's manifests/ folder copied, so exports land in the test's folder."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path


def run_cli(tmp_path: Path, manifest: str, *options: str) -> tuple[Path, Result]:
    """``sailjobs run`` in-process on ``manifest`` (YAML text, written to ``tmp_path/m.yaml``),
    the run state in ``tmp_path/st``."""
    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    state = ["--state", str(tmp_path / "st")]
    return path, CliRunner().invoke(cli, ["run", str(path), *options, *state])


@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_writes_real_csv_files(demo_copy: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")}
    done = subprocess.run(
        [SAILJOBS, "run", "manifests/demo.yaml", "--sandbox", "--report", "report.json",
         "--junit", "junit.xml"],
        cwd=demo_copy, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded: 6 succeeded" in done.stdout
    assert "warning" not in done.stdout  # every import imported someone
    exports = sorted(p.name for p in (demo_copy / "exports").iterdir())
    assert exports == [
        "demo-signups.csv",
        next(name for name in exports if name.startswith("newsletter-")),
        "purchases-2026-01.csv",
        "scheduled_sends.csv",
    ]
    signups = (demo_copy / "exports" / "demo-signups.csv").read_text().splitlines()
    assert signups[0] == (
        "Profile Id,Email Hash,Engagement,Signup,Opens,Clicks,Last Open,List Signup"
    )
    assert len(signups) == 21
    # Signup dates come from the file, not from the time of the run.
    assert '"Thu, 01 Jan 2026 00:00:00 +0000"' in signups[1]
    # The purchase log of January 2026 holds exactly the orders the demo imported.
    purchases = (demo_copy / "exports" / "purchases-2026-01.csv").read_text().splitlines()
    imported = (demo_copy / "manifests" / "data" / "demo-purchases.jsonl").read_text()
    assert len(purchases) - 1 == len(imported.splitlines()) == 30
    report = json.loads((demo_copy / "report.json").read_text())
    assert report["run_id"] and len(report["jobs"]) == 6
    assert (demo_copy / "junit.xml").read_text().count("<testcase") == 6
    # The export URLs (capabilities) never reach the console.
    assert "/export/" not in done.stdout


def test_an_invalid_manifest_prints_its_problems_and_exits_2(tmp_path: Path) -> None:
    path, result = run_cli(
        tmp_path, "version: 1\nname: bad\njobs:\n  a:\n    job: export_list_data\n    lst: M\n"
    )
    assert result.exit_code == 2
    problems = [line for line in result.output.splitlines() if line.startswith(f"{path}:")]
    assert problems and any("lst" in line for line in problems)
    assert "nothing was sent" in result.output
    assert "Traceback" not in result.output


def test_missing_credentials_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    for name in ("SAILTHRU_API_KEY", "SAILTHRU_API_SECRET", "SAILTHRU_API_URL"):
        monkeypatch.delenv(name, raising=False)
    _, result = run_cli(
        tmp_path, "version: 1\nname: m\njobs:\n  a:\n    job: export_scheduled_sends\n"
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Sailthru credentials missing")
    assert "--sandbox" in lines[0]


def test_missing_env_variables_are_named_together(tmp_path: Path) -> None:
    _, result = run_cli(
        tmp_path,
        "version: 1\nname: m\njobs:\n  a:\n    job: import\n    list: ${{ env.ZZ_LIST }}\n"
        "    emails: ${{ env.ZZ_EMAILS }}\n",
        "--sandbox",
    )
    assert result.exit_code == 2
    assert "environment variables not set: ZZ_EMAILS, ZZ_LIST" in result.output


def test_quiet_and_verbose_together_is_a_usage_error(tmp_path: Path) -> None:
    _, result = run_cli(tmp_path, "version: 1\nname: m\njobs: {}\n", "-q", "-v")
    assert result.exit_code == 2 and "cannot be used together" in result.output


def test_a_failed_job_exits_1(tmp_path: Path) -> None:
    _, result = run_cli(
        tmp_path,
        "version: 1\nname: m\ndefaults:\n  poll: {initial: 0.1s}\njobs:\n"
        "  a:\n    job: export_list_data\n    list: No Such List\n",
        "--sandbox",
    )
    assert result.exit_code == 1, result.output
    assert "a: failed" in result.output


class _InterruptOnSubmit:
    """A plugin that presses Ctrl-C as soon as the first job is accepted."""

    @hookimpl
    def sailjobs_job_submitted(self, event: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)


def test_an_interrupted_sandbox_run_says_the_next_run_starts_over(tmp_path: Path) -> None:
    get_plugin_manager().register(_InterruptOnSubmit(), name="interrupt-on-submit")
    manifest = (
        "version: 1\nname: m\ndefaults:\n  poll: {initial: 0.1s}\njobs:\n"
        "  a:\n    job: export_scheduled_sends\n"
    )
    _, result = run_cli(tmp_path, manifest, "--sandbox", "--resume")
    assert result.exit_code == 130, result.output
    assert "--resume has no effect with --sandbox" in result.output
    assert "stopping: no new jobs are submitted; the embedded sandbox is gone" in result.output
    assert "interrupted (the embedded sandbox is gone: running the command again starts over)" in (
        result.output
    )
    assert "to resume" not in result.output


def test_a_report_that_cannot_be_written_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    (tmp_path / "afile").write_text("")
    manifest = "version: 1\nname: m\njobs:\n  a:\n    job: export_scheduled_sends\n"
    _, result = run_cli(tmp_path, manifest, "--sandbox", "--report", str(tmp_path / "afile/r.json"))
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: --report {tmp_path / 'afile/r.json'}: {tmp_path / 'afile'} is a file, not a "
        "folder; choose another path"
    )
    assert not (tmp_path / "st").exists()  # nothing ran
