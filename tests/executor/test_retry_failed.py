"""``sailjobs run --retry-failed``: the last run continued under its run id, doing again only
what failed, and every failure's advice a command that does exactly that. The in-process
tests run on both backends (``state_location``).

The reproduction of issue 13: an import ends "may or may not have been created"; the
advice used to be "run the manifest again", which started a new run importing every other
list again. Here the advised command is pasted as printed (a real ``sailjobs`` process
against the sandbox, which counts every submission) and submits only what failed.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from executor_helpers import manifest_text, sailjobs_on

from runner.actions import ActionContext, ActionType
from runner.cli import cli
from runner.executor.lifecycle import RunSetupError, run
from runner.executor.progress import Progress
from runner.executor.state import SQLiteState, StateLocation
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.results import JobStatus, JobSubmitted
from runner.sailthru.ratelimit import RateLimitBudget

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))

LISTS_MANIFEST = """\
version: 1
name: lists
defaults:
  timeout: 1m
  poll: {initial: 0.1s, max: 0.3s}
  retry: {attempts: 3, initial: 0.05s, max: 0.2s}
concurrency: 1
jobs:
  gx:
    job: import
    list: G X
    emails: x@example.com
  ga:
    job: import
    list: G A
    emails: a@example.com
  gb:
    job: import
    list: G B
    emails: b@example.com
  gx-export:
    job: export_list_data
    list: G X
    needs: [gx]
"""


def sailjobs(workdir: Path, sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return sailjobs_on(sandbox, workdir, *args, **env)


def imported_lists(sandbox) -> list[str]:
    return [p["list"] for p in sandbox.submissions() if p["job"] == "import"]


def advised(output: str, flag: str) -> list[str]:
    """The commands in backquotes that the output advises, containing ``flag``."""
    return sorted({cmd for cmd in re.findall(r"`(sailjobs run [^`]+)`", output) if flag in cmd})


def test_the_advised_command_after_an_ambiguous_import_submits_only_what_failed(
    sandbox, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text(LISTS_MANIFEST)
    # gx is sent first (concurrency 1); its connection closes before any answer.
    sandbox.faults.drop_next(1, method="POST", path="/job")

    first = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--state", "st")
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "may or may not have been created" in output
    assert imported_lists(sandbox) == ["G A", "G B"]  # the dropped POST created nothing
    # The advice names the exact commands, with the manifest and --state as typed.
    assert advised(output, "--resubmit") == [
        "sailjobs run m.yaml --state st --retry-failed --resubmit gx"
    ]
    # ... in the job's error and in the summary, which asks for the check first.
    assert advised(output, "--retry-failed") == [
        "sailjobs run m.yaml --state st --retry-failed --resubmit gx"
    ]
    assert "run it only if the jobs list in Sailthru has no job for gx" in first.stdout

    # --retry-failed alone does not resubmit the import that may exist: nothing is sent.
    plain = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--state", "st", "--retry-failed")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "gx is left failed" in plain.stdout
    assert len(sandbox.submissions()) == 2
    assert advised(plain.stdout, "--retry-failed") == [
        "sailjobs run m.yaml --state st --retry-failed --resubmit gx"
    ]

    # The jobs list in Sailthru has no G X import: the advised command, pasted as printed.
    (command,) = advised(output, "--resubmit")
    words = shlex.split(command)
    second = sailjobs(tmp_path, sandbox, *words[1:])
    assert second.returncode == 0, second.stdout + second.stderr
    assert imported_lists(sandbox) == ["G A", "G B", "G X"]  # G A and G B once each
    assert [p["job"] for p in sandbox.submissions()][-1] == "export_list_data"

    # One run, continued twice (recorded as reopened).
    listing = sailjobs(tmp_path, sandbox, "runs", "--state", "st").stdout.splitlines()
    assert len(listing) == 2, listing
    assert "succeeded" in listing[1] and "4 succeeded (retried 2 times)" in listing[1]
    run_ids = set(re.findall(r"run (\S+) (?:failed|succeeded)", output + second.stdout))
    assert len(run_ids) == 1

    # The run succeeded now: nothing to retry, exit 0, nothing sent.
    done = sailjobs(tmp_path, sandbox, "run", "m.yaml", "--state", "st", "--retry-failed")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"nothing to retry: run {run_ids.pop()} of m.yaml succeeded" in done.stdout
    assert len(sandbox.submissions()) == 4


class _DropNextPostAfter:
    """Drops the next POST once ``job`` is submitted: the job after it ends ambiguous."""

    def __init__(self, sandbox, job: str) -> None:
        self.sandbox, self.job = sandbox, job

    @hookimpl
    def sailjobs_job_submitted(self, event: JobSubmitted) -> None:
        if event.id == self.job:
            self.sandbox.faults.drop_next(1, method="POST", path="/job")


def test_a_retry_reuses_the_outputs_of_jobs_that_succeeded(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    path = write_manifest(
        manifest_text("""
            sends:
              job: export_scheduled_sends
            copy:
              job: import
              list: "from ${{ jobs.sends.outputs.job_id }}"
              emails: a@example.com
              needs: [sends]
        """)
    )
    get_plugin_manager().register(_DropNextPostAfter(sandbox, "sends"), name="drop-after")
    client, state = client_for(sandbox), state_location
    first = run(path, client=client, state=state)
    assert first.jobs["copy"].status is JobStatus.FAILED
    sends_id = first.jobs["sends"].remote_job_id

    again = run(path, client=client, state=state, retry_failed=True, resubmit=["copy"])
    assert again.run_id == first.run_id and again.succeeded
    assert [p["job"] for p in sandbox.submissions()] == ["export_scheduled_sends", "import"]
    assert sandbox.submissions()[1]["list"] == f"from {sends_id}"


def test_a_job_that_timed_out_while_running_is_polled_not_resubmitted(
    sandbox_factory, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    slow = sandbox_factory(seed="demo", job_time=3.0)
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n  timeout: 2s\n"))
    client, state = client_for(slow), state_location
    first = run(path, client=client, state=state)
    exp = first.jobs["exp"]
    assert exp.status is JobStatus.TIMED_OUT
    assert "--retry-failed` waits for it again, without resubmitting it" in exp.error

    again = run(path, client=client, state=state, retry_failed=True)
    assert again.succeeded and again.run_id == first.run_id
    assert again.jobs["exp"].remote_job_id == exp.remote_job_id
    assert len(slow.submissions()) == 1


def test_a_failed_download_of_a_succeeded_export_runs_again_without_resubmitting(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    path = write_manifest(
        manifest_text("""
            exp:
              job: export_scheduled_sends
              on_success:
                - download: {path: out/sends.csv}
        """)
    )
    (tmp_path / "out").mkdir()

    class InTheWay:  # a file there once the export is sent: no plan could have known
        @hookimpl
        def sailjobs_job_submitted(self, event: JobSubmitted) -> None:
            (tmp_path / "out" / "sends.csv").write_text("in the way\n")  # overwrite: never

    client, state = client_for(sandbox), state_location
    manager = get_plugin_manager()
    manager.register(InTheWay(), name="in-the-way")
    try:
        first = run(path, client=client, state=state)
    finally:
        manager.unregister(name="in-the-way")
    assert first.jobs["exp"].status is JobStatus.FAILED

    (tmp_path / "out" / "sends.csv").unlink()
    again = run(path, client=client, state=state, retry_failed=True)
    assert again.succeeded and again.run_id == first.run_id
    assert len(sandbox.submissions()) == 1
    assert (tmp_path / "out" / "sends.csv").read_text().startswith("Send Id,")


def test_with_no_run_to_retry_it_refuses_and_after_a_success_it_has_nothing_to_do(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    client, state = client_for(sandbox), state_location
    with pytest.raises(RunSetupError, match=r"nothing to retry: .* has no run"):
        run(path, client=client, state=state, retry_failed=True)
    assert sandbox.submissions() == []

    first = run(path, client=client, state=state)
    again = run(path, client=client, state=state, retry_failed=True)
    assert again.succeeded and again.run_id == first.run_id
    assert len(sandbox.submissions()) == 1
    with StateLocation(state).open() as opened:
        assert opened.reopenings(first.run_id) == []  # nothing was reopened


def test_nothing_to_retry_still_writes_the_reports_and_names_the_state_folder(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    client, state = client_for(sandbox), state_location
    run(path, client=client, state=state)
    messages: list[str] = []

    class Notes(Progress):
        def message(self, text: str, level: str = "info") -> None:
            messages.append(text)

    report = tmp_path / "r.json"
    again = run(
        path,
        client=client,
        state=state,
        retry_failed=True,
        options={"report": str(report)},
        progress=Notes(),
    )
    assert again.succeeded and json.loads(report.read_text())["run_id"] == again.run_id
    # The advised `sailjobs show` works when pasted: it names the state folder.
    assert any(
        f"`sailjobs show {again.run_id}{StateLocation(state).option()}`" in m for m in messages
    )


def test_a_failed_job_gone_from_the_manifest_is_not_called_a_success(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    both = manifest_text("""
        ok:
          job: export_scheduled_sends
        bad:
          job: export_list_data
          list: No Such List
    """)
    path = write_manifest(both)
    client, state = client_for(sandbox), state_location
    assert run(path, client=client, state=state).jobs["bad"].status is JobStatus.FAILED
    path.write_text(manifest_text("ok:\n  job: export_scheduled_sends\n"))
    with pytest.raises(RunSetupError, match=r"failed in bad no longer in the manifest.*--fresh"):
        run(path, client=client, state=state, retry_failed=True)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--retry-failed", "--fresh"], "--retry-failed and --fresh cannot be used together"),
        (["--retry-failed", "--resume"], "--retry-failed and --resume cannot be used together"),
        (["--resubmit", "a"], "--resubmit JOB goes with --retry-failed"),
        (["--retry-failed"], "nothing to retry"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_the_command_line_exits_2_with_one_line(
    options: list[str], says: str, tmp_path: Path
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    done = CliRunner().invoke(
        cli,
        ["run", str(path), "--state", str(tmp_path / "st"), *options],
        env={"SAILTHRU_API_KEY": "k", "SAILTHRU_API_SECRET": "s"},
    )
    assert done.exit_code == 2, done.output
    assert says in done.output


class _ExpireOnce(ActionType):
    """An action that expires every export link of the sandbox, the first time only: the
    download after it finds its link gone, as after a two-hour wait."""

    name: ClassVar[str] = "expire-once"

    def __init__(self, sandbox) -> None:
        self.sandbox, self.done = sandbox, False

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        if not self.done:
            self.done = True
            self.sandbox.expire_exports()
        return {}


class _ExpirePlugin:
    def __init__(self, sandbox) -> None:
        self.action = _ExpireOnce(sandbox)

    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [self.action]


def test_an_export_that_expired_before_its_download_is_resubmitted_as_its_error_says(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    get_plugin_manager().register(_ExpirePlugin(sandbox), name="expire-once")
    path = write_manifest(
        manifest_text("""
            exp:
              job: export_scheduled_sends
              on_success:
                - expire-once: {}
                - download: {path: out/sends.csv}
        """)
    )
    client, state = client_for(sandbox), state_location
    first = run(path, client=client, state=state)
    error = first.jobs["exp"].error
    assert "expired" in error
    expected = f"`sailjobs run {path}{StateLocation(state).option()} --retry-failed --resubmit exp`"
    assert f"{expected} submits the export job again" in error

    again = run(path, client=client, state=state, retry_failed=True, resubmit=["exp"])
    assert again.succeeded and again.run_id == first.run_id
    assert len(sandbox.submissions()) == 2
    assert (tmp_path / "out" / "sends.csv").read_text().startswith("Send Id,")


def test_a_retry_that_cannot_be_recorded_changes_nothing(
    sandbox, client_for, write_manifest, tmp_path: Path
) -> None:
    """The jobs' rows are set up for the retry and the run reopened in one transaction: a
    failure in between (here a trigger refusing the reopening) leaves the run as it was."""
    sandbox.faults.error_next_jobs(1)
    path = write_manifest(manifest_text("exp:\n  job: export_scheduled_sends\n"))
    client, state = client_for(sandbox), tmp_path / "st"
    first = run(path, client=client, state=state)
    assert first.jobs["exp"].status is JobStatus.FAILED
    with sqlite3.connect(state / "state.db") as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON reopenings "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )

    with pytest.raises(sqlite3.DatabaseError, match="refused"):
        run(path, client=client, state=state, retry_failed=True)
    with SQLiteState(state) as opened:
        row = opened.jobs(first.run_id)["exp"]
        assert row.status is JobStatus.FAILED and row.remote_job_id is not None
        assert opened.run(first.run_id).status == "finished"


def test_an_import_the_api_refused_is_submitted_again_by_retry_failed(
    sandbox, client_for, write_manifest, tmp_path: Path, state_location: str
) -> None:
    # A POST answered with a refusal (here 429 on every attempt) created nothing: it is not
    # "may or may not exist", and the advised --retry-failed submits it again.
    path = write_manifest(
        manifest_text(
            "imp:\n  job: import\n  list: G A\n  emails: a@example.com\n"
            "  retry: {attempts: 2, initial: 0.01s, max: 0.05s}\n"
        )
    )
    sandbox.faults.throttle_next(2, method="POST", path="/job")
    client, state = client_for(sandbox, budget=RateLimitBudget(max_wait=0.05)), state_location
    first = run(path, client=client, state=state)
    assert first.jobs["imp"].status is JobStatus.FAILED
    assert not first.jobs["imp"].ambiguous
    assert imported_lists(sandbox) == []

    again = run(path, client=client, state=state, retry_failed=True)
    assert again.succeeded and again.run_id == first.run_id
    assert imported_lists(sandbox) == ["G A"]
