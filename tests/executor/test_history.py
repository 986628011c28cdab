"""``sailjobs runs`` and ``sailjobs show RUN_ID``: the run history, read from the state.

``show`` rebuilds a run's report with the builders the run used: its JSON, JUnit and
markdown match what the run itself wrote, but for what the state does not hold (the
run's options: the report paths). Both backends (``state_location``).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from executor_helpers import manifest_text, sailjobs_on

from runner.cli import cli
from runner.executor.state import StateLocation, manifest_key

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))

MANIFEST = manifest_text(
    """
    broken:
      job: export_scheduled_sends
    sends:
      job: export_scheduled_sends
      on_success:
        - download: {path: out/sends.csv}
    after:
      job: export_scheduled_sends
      needs: [broken]
    """,
    header="concurrency: 1\n",
)


def sailjobs(workdir: Path, sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return sailjobs_on(sandbox, workdir, *args, **env)


def test_show_rebuilds_the_reports_the_run_wrote(
    sandbox, tmp_path: Path, state_location: str
) -> None:
    (tmp_path / "m.yaml").write_text(MANIFEST)
    sandbox.faults.error_next_jobs(1)  # "broken", sent first; "after" is skipped
    done = sailjobs(
        tmp_path, sandbox, "run", "m.yaml", "--state", state_location, "--report", "r.json",
        "--junit", "j.xml", GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    written = json.loads((tmp_path / "r.json").read_text())
    run_id = written["run_id"]
    assert [job["status"] for job in written["jobs"]] == ["failed", "succeeded", "skipped"]

    shown = sailjobs(
        tmp_path, sandbox, "show", run_id, "--state", state_location, "--format", "json"
    )
    assert shown.returncode == 0, shown.stderr
    rebuilt = json.loads(shown.stdout)
    # The state does not hold the run's options, but the host that ran it.
    assert rebuilt.pop("options") == {"host": socket.gethostname()}
    written_options = written.pop("options")
    assert {"report": "r.json", "junit": "j.xml"}.items() <= written_options.items()
    assert written_options["host"] == socket.gethostname()
    assert set(written_options) == {"report", "junit", "api_url", "host"}  # the API it talked to
    assert rebuilt == written

    junit = sailjobs(
        tmp_path, sandbox, "show", run_id, "--state", state_location, "--format", "junit"
    )
    assert junit.stdout == (tmp_path / "j.xml").read_text()
    markdown = sailjobs(
        tmp_path, sandbox, "show", run_id, "--state", state_location, "--format", "markdown"
    )
    assert markdown.stdout == (tmp_path / "summary.md").read_text()

    text = sailjobs(tmp_path, sandbox, "show", run_id, "--state", state_location).stdout
    assert f"run {run_id} failed: 1 succeeded, 1 failed, 1 skipped" in text
    assert "  after: skipped: it needs 'broken', which failed" in text
    # Its advice names the state folder the run used, so that it works when pasted.
    option = StateLocation(state_location).option()
    assert f"`sailjobs run m.yaml{option} --retry-failed` submits again only what failed" in text


def test_runs_lists_each_run_and_show_names_the_known_ids_for_an_unknown_one(
    sandbox, tmp_path: Path, state_location: str
) -> None:
    (tmp_path / "m.yaml").write_text(manifest_text("a:\n  job: export_scheduled_sends\n"))
    (tmp_path / "other.yaml").write_text(manifest_text("b:\n  job: export_scheduled_sends\n"))
    empty = sailjobs(tmp_path, sandbox, "runs", "--state", state_location)
    location = StateLocation(state_location)
    where = location.folder or location.describe()
    assert (empty.returncode, empty.stdout) == (0, f"no runs recorded in {where}\n")
    for manifest in ("m.yaml", "other.yaml", "m.yaml"):
        assert (
            sailjobs(tmp_path, sandbox, "run", manifest, "--state", state_location).returncode == 0
        )

    listing = sailjobs(tmp_path, sandbox, "runs", "--state", state_location).stdout.splitlines()
    assert re.split(r"\s{2,}", listing[0]) == [
        "MANIFEST", "RUN ID", "HOST", "STARTED", "ENDED", "STATUS", "JOBS"
    ]  # fmt: skip
    assert len(listing) == 4
    newest = re.split(r"\s{2,}", listing[1])
    assert newest[0] == "m.yaml"  # as the run was given it
    assert newest[2] == socket.gethostname()  # the machine that ran it
    assert newest[5:] == ["succeeded", "1 succeeded"]
    only_m = sailjobs(
        tmp_path, sandbox, "runs", "m.yaml", "--state", state_location
    ).stdout.splitlines()
    assert len(only_m) == 3 and all("other.yaml" not in line for line in only_m)

    unknown = sailjobs(tmp_path, sandbox, "show", "nope", "--state", state_location)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith(
        f"error: no run 'nope' in {location.describe()} (recent runs: "
    )
    assert newest[1] in unknown.stderr
    assert len(unknown.stderr.splitlines()) == 1


def test_an_unfinished_run_is_running_only_while_a_process_holds_its_lock(
    tmp_path: Path, state_location: str
) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(manifest_text("a:\n  job: export_scheduled_sends\n"))
    state = state_location
    with StateLocation(
        state
    ).open() as opened:  # as a killed process leaves it: started, never ended
        opened.start_run("r-killed", manifest_key(manifest), manifest, "t", "sha")

    def status() -> str:
        done = CliRunner().invoke(cli, ["runs", "--state", str(state)])
        assert done.exit_code == 0, done.output
        return re.split(r"\s{2,}", done.output.splitlines()[1])[5]

    assert status() == "interrupted"
    with StateLocation(state).open() as opened, opened.lock(manifest_key(manifest), manifest):
        assert status() == "running"


def test_show_masks_the_secrets_the_run_masked(
    sandbox, client_for, write_manifest, tmp_path: Path, monkeypatch, state_location: str
) -> None:
    # A download path built from secrets: the run's report masks it; show, in a new process
    # (here: with the process-wide secrets forgotten), must mask it too.
    from runner.executor.lifecycle import run
    from runner.masking import forget_secrets

    path = write_manifest(
        manifest_text(
            """
            sends:
              job: export_scheduled_sends
              on_success:
                - download: {path: "out/${{ env.EXPORT_TOKEN }}-${{ env.CRM_AREA }}.csv"}
            """,
            header="secrets: [CRM_AREA]\n",
        )
    )
    monkeypatch.setenv("EXPORT_TOKEN", "tok3nValue77")
    monkeypatch.setenv("CRM_AREA", "area51hidden")
    state = state_location
    result = run(path, client=client_for(sandbox), state=state)
    assert result.succeeded
    forget_secrets()

    shown = CliRunner().invoke(
        cli, ["show", result.run_id, "--state", str(state), "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    assert "tok3nValue77" not in shown.output and "area51hidden" not in shown.output
    assert "out/***-***.csv" in shown.output


def test_the_state_option_defaults_to_the_library_default() -> None:
    # The commands cannot import the library for --help's sake: the two must agree.
    import click

    from runner.commands.options import state_option
    from runner.executor.state import DEFAULT_STATE_DIR

    (option,) = state_option(click.command()(lambda state: None)).params
    assert Path(str(option.default)) == DEFAULT_STATE_DIR


def test_show_of_a_sandbox_run_advises_no_retry(sandbox, tmp_path: Path) -> None:
    # Its jobs died with its sandbox: like the run itself, show names no --retry-failed
    # (which cannot be combined with --sandbox, and would go to a real account).
    (tmp_path / "m.yaml").write_text(
        manifest_text("x:\n  job: export_list_data\n  list: No Such List\n")
    )
    done = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--sandbox", "--state", "st")
    assert done.returncode == 1
    run_id = re.search(r"run (\S+) failed", done.stdout + done.stderr).group(1)
    text = sailjobs(tmp_path, sandbox, "show", run_id, "--state", "st").stdout
    assert f"run {run_id} failed" in text and "--retry-failed" not in text
    assert "--resubmit" not in text
