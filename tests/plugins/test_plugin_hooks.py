"""Plugins in a real run on the sandbox: every hook, their order, a plugin that raises, the
first-party actions end to end, and resume without repeating what was done."""

from __future__ import annotations

import os
import re
import signal
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from runner import hookspecs
from runner.actions import ActionContext, ActionSettings, ActionType
from runner.executor.lifecycle import exit_code_for, run
from runner.executor.progress import Progress
from runner.exitcodes import ExitCode
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.results import JobStatus

FAST = """\
version: 1
name: {name}
defaults:
  timeout: 30s
  poll: {{initial: 0.05s, max: 0.2s}}
  retry: {{attempts: 2, initial: 0.01s, max: 0.05s}}
"""

# The in-house plugin of these tests, installed as a distribution with an entry point.
RECORDER = """
    from runner.hookspecs import hookimpl

    calls = []
    results = {}

    @hookimpl
    def sailjobs_run_started(run):
        calls.append(("run_started", run.run_id, [j.status.is_terminal for j in run.jobs.values()]))

    @hookimpl
    def sailjobs_job_submitted(event):
        calls.append(("submitted", event.id, event.remote_job_id))

    @hookimpl
    def sailjobs_job_finished(result):
        calls.append(("finished", result.id, str(result.status)))
        results[result.id] = result

    @hookimpl
    def sailjobs_run_finished(result):
        calls.append(("run_finished", result.run_id, len(result.jobs)))

    @hookimpl
    def sailjobs_register_commands(cli):
        import click

        @cli.command(name="recorder-hello")
        def hello():
            "Say hello from the recorder plugin."
            click.echo("hello from the recorder")
"""


class Messages(Progress):
    """A silent progress view that keeps the messages (hook failures are reported here)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def message(self, text: str, level: str = "info") -> None:
        self.lines.append((level, text))


@pytest.fixture
def recorder(install) -> Any:
    install("acme-recorder", RECORDER, entry_name="recorder")
    import acme_recorder

    return acme_recorder


@pytest.fixture
def client(sandbox_client) -> Any:
    return sandbox_client  # runner.testing's, as plugin authors use it


def write(tmp_path: Path, body: str, name: str = "t") -> Path:
    path = tmp_path / "manifest.yaml"
    path.write_text(FAST.format(name=name) + textwrap.dedent(body), encoding="utf-8")
    return path


class StickNextJob:
    """Makes the sandbox leave the next submitted job pending once ``after`` has finished."""

    def __init__(self, sandbox: Any, after: str) -> None:
        self.sandbox, self.after = sandbox, after

    @hookimpl
    def sailjobs_job_finished(self, result: Any) -> None:
        if result.id == self.after:
            self.sandbox.faults.stick_next_jobs(1)


def test_every_hook_in_order_each_job_finished_once(recorder, sandbox, client, tmp_path):
    get_plugin_manager().register(StickNextJob(sandbox, after="ok"), name="stick")
    path = write(
        tmp_path,
        """
        jobs:
          ok:
            job: export_list_data
            list: VIP
          stuck:
            job: export_scheduled_sends
            needs: [ok]
            timeout: 1s
          after-stuck:
            job: export_scheduled_sends
            needs: [stuck]
        """,
    )
    result = run(path, client=client, state=tmp_path / "state", progress=Messages())

    statuses = {job_id: str(job.status) for job_id, job in result.jobs.items()}
    assert statuses == {"ok": "succeeded", "stuck": "timed_out", "after-stuck": "skipped"}
    calls = recorder.calls
    assert calls[0][:2] == ("run_started", result.run_id)
    assert not any(calls[0][2])  # nothing has finished when the run starts
    assert calls[-1] == ("run_finished", result.run_id, 3)
    finished = [call[1] for call in calls if call[0] == "finished"]
    assert sorted(finished) == ["after-stuck", "ok", "stuck"]  # each exactly once
    submitted = {call[1]: call[2] for call in calls if call[0] == "submitted"}
    assert submitted == {
        "ok": result.jobs["ok"].remote_job_id,
        "stuck": result.jobs["stuck"].remote_job_id,
    }
    for job_id in submitted:
        assert calls.index(("submitted", job_id, submitted[job_id])) < next(
            i for i, call in enumerate(calls) if call[:2] == ("finished", job_id)
        )
    # The hook gets the job's full result: outputs, durations and, for a skip, why.
    assert recorder.results["ok"].outputs["export_url"].startswith(sandbox.url)
    assert recorder.results["stuck"].error.startswith("timed out after 1s")
    assert recorder.results["after-stuck"].submitted_at is None


def test_a_raising_plugin_is_reported_with_its_name_and_job_and_the_others_run(
    recorder, sandbox, client, tmp_path
):
    class Raiser:
        @hookimpl
        def sailjobs_job_finished(self, result: Any) -> None:
            raise OSError("disk full")

        @hookimpl
        def sailjobs_run_finished(self, result: Any) -> None:
            raise RuntimeError("report server down")

    get_plugin_manager().register(Raiser(), name="acme-raiser")
    path = write(tmp_path, "jobs:\n  a:\n    job: export_scheduled_sends\n")
    messages = Messages()
    result = run(path, client=client, state=tmp_path / "state", progress=messages)

    assert result.jobs["a"].status is JobStatus.SUCCEEDED
    assert exit_code_for(result) == ExitCode.OK  # a plugin's hook never fails the run
    assert [call[0] for call in recorder.calls] == [
        "run_started", "submitted", "finished", "run_finished",
    ]  # fmt: skip
    errors = [text for level, text in messages.lines if level == "error"]
    assert errors == [
        "plugin 'acme-raiser' failed in sailjobs_job_finished while handling job 'a': "
        "OSError: disk full",
        f"plugin 'acme-raiser' failed in sailjobs_run_finished while handling run "
        f"{result.run_id}: RuntimeError: report server down",
    ]
    # The run state is consistent: the run is finished, so the next one starts afresh.
    again = run(path, client=client, state=tmp_path / "state", progress=Messages())
    assert again.run_id != result.run_id and again.succeeded


@pytest.fixture
def bucket(moto_endpoint, aws_env) -> str:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="crm-exports")
    s3.close()
    return "crm-exports"


def test_first_party_actions_end_to_end(
    sandbox, client, tmp_path, smtp_sink, webhook, moto_endpoint, bucket
):
    sink = smtp_sink()
    path = write(
        tmp_path,
        """
        jobs:
          export-main:
            job: export_list_data
            list: Main Newsletter
            on_success:
              - download: {path: "out/main.csv"}
              - s3:
                  bucket: crm-exports
                  endpoint_url: "${{ env.S3_ENDPOINT }}"
                  key: "{manifest}/{date}/{filename}"
          broken:
            job: export_list_data
            list: No Such List Anywhere
            on_failure:
              - chat: {kind: webhook, webhook: "${{ env.HOOK_URL }}"}
        notify:
          always:
            - email:
                to: [crm@example.com]
                host: 127.0.0.1
                port: ${{ env.SMTP_PORT }}
                subject: "{manifest}: {failed} of {total} failed"
            - chat: {kind: slack, webhook: "${{ env.HOOK_URL }}"}
        """,
        name="nightly",
    )
    env = {
        **os.environ,
        "S3_ENDPOINT": moto_endpoint,
        "HOOK_URL": webhook.url,
        "SMTP_PORT": str(sink.port),
    }
    result = run(path, client=client, state=tmp_path / "state", env=env, progress=Messages())

    export = result.jobs["export-main"]
    assert export.status is JobStatus.SUCCEEDED, export.error
    downloaded = Path(export.outputs["path"]).read_bytes()
    key = f"nightly/{result.started_at.date().isoformat()}/main.csv"
    assert export.outputs["key"] == key
    assert export.outputs["url"] == f"{moto_endpoint}/crm-exports/{key}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    body = s3.get_object(Bucket="crm-exports", Key=key)["Body"]
    assert body.read() == downloaded
    body.close()
    s3.close()
    assert [(a.name, a.plugin, a.succeeded) for a in export.actions] == [
        ("download", "runner.builtin.download", True),
        ("s3", "s3", True),
    ]
    # The failed job's on_failure posted a JSON document; notify posted to Slack last.
    job_post, notify_post = (request.json() for request in webhook.requests)
    assert job_post["job"] == "broken" and job_post["status"] == "failed"
    assert notify_post["text"] == "nightly: failed"
    lines = notify_post["blocks"][1]["text"]["text"].splitlines()
    assert lines[0].startswith("✅ *export-main* (export_list_data, succeeded")
    assert lines[0].endswith(f"{export.outputs['rows']:,} rows)")
    assert lines[1].startswith("❌ *broken* (export_list_data, failed")
    # The email summarises the whole run.
    [mail] = sink.messages
    assert mail.message["Subject"] == "nightly: 1 of 2 failed"
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    assert "OK        export-main" in text and "FAILED    broken" in text
    assert [(a.name, a.when, a.succeeded) for a in result.actions] == [
        ("email", "always", True),
        ("chat", "always", True),
    ]
    # The webhook URL (a secret from env) appears nowhere in what the run reports.
    assert "secret-token-1234" not in repr(result)


class InterruptOnce(ActionType):
    """Sends SIGINT to this process the first time it runs (as if Ctrl-C came right then)."""

    name: ClassVar[str] = "interrupt_once"
    settings_model: ClassVar[type[ActionSettings]] = ActionSettings
    calls: ClassVar[Counter[str]] = Counter()

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        self.calls["runs"] += 1
        if self.calls["runs"] == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs in the main thread: let it see the signal
        return {}


class InterruptPlugin:
    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [InterruptOnce()]


def test_resume_does_not_repeat_completed_plugin_actions(
    sandbox, client, tmp_path, smtp_sink, webhook
):
    InterruptOnce.calls.clear()
    get_plugin_manager().register(InterruptPlugin(), name="interrupter")
    sink = smtp_sink()
    path = write(
        tmp_path,
        """
        jobs:
          a:
            job: export_scheduled_sends
            on_success:
              - email: {to: [crm@example.com], host: 127.0.0.1, port: "${{ env.SMTP_PORT }}"}
              - chat: {kind: webhook, webhook: "${{ env.HOOK_URL }}"}
              - interrupt_once: {}
        """,
    )
    env = {**os.environ, "HOOK_URL": webhook.url, "SMTP_PORT": str(sink.port)}
    stopped = run(path, client=client, state=tmp_path / "state", env=env, progress=Messages())
    assert stopped.interrupted
    assert (len(sink.messages), len(webhook.requests)) == (1, 1)

    resumed = run(path, client=client, state=tmp_path / "state", env=env, progress=Messages())
    assert resumed.run_id == stopped.run_id and resumed.succeeded
    assert (len(sink.messages), len(webhook.requests)) == (1, 1)  # not sent again
    assert [action.resumed for action in resumed.jobs["a"].actions] == [True, True, True]
    assert InterruptOnce.calls["runs"] == 1
    email = resumed.jobs["a"].actions[0]
    assert email.outputs["message_id"] == sink.messages[0].message["Message-ID"]
    assert len(sandbox.submissions()) == 1


def test_register_commands_hook_adds_a_command(install):
    import subprocess
    import sys

    site = install("acme-recorder", RECORDER, entry_name="recorder")
    env = {**os.environ, "PYTHONPATH": str(site)}
    sailjobs = str(Path(sys.executable).parent / "sailjobs")
    done = subprocess.run([sailjobs, "recorder-hello"], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout) == (0, "hello from the recorder\n")
    listed = subprocess.run([sailjobs, "--help"], capture_output=True, text=True, env=env)
    assert "recorder-hello" in listed.stdout and "Say hello from the recorder" in listed.stdout


JOB_TYPE_PLUGIN = """
    from runner.hookspecs import hookimpl
    from runner.jobtypes import JobParams, JobType

    class RefreshParams(JobParams):
        url: str

    class Refresh(JobType):
        name = "acme_refresh"
        params_model = RefreshParams

    @hookimpl
    def sailjobs_job_types():
        return [Refresh()]
"""


def test_job_types_hook_adds_a_job_type(tmp_path, install):
    from runner.manifest.loader import load_manifest
    from runner.plugins import job_type_owners

    install("acme-refresh", JOB_TYPE_PLUGIN, entry_name="refresh")
    assert job_type_owners()["acme_refresh"] == "refresh"
    path = write(tmp_path, "jobs:\n  bulk:\n    job: acme_refresh\n    url: https://x.io/a.json\n")
    loaded = load_manifest(path)
    assert loaded.manifest.jobs["bulk"].job == "acme_refresh"


PING_TYPE = """
    from runner.hookspecs import hookimpl
    from runner.jobtypes import JobType, StrictParams

    class PingParams(StrictParams):
        message: str

    class Ping(JobType):
        name = "acme_ping"
        params_model = PingParams

    @hookimpl
    def sailjobs_job_types():
        return [Ping()]
"""
PING_KIND = """
    from runner.sandbox.kinds import Accepted, JobKind, Outcome

    class PingKind(JobKind):
        job = "acme_ping"

        def validate(self, payload, upload, env):
            return Accepted(f"Ping: {payload['message']}")

        def run(self, record, env):
            return Outcome({"echo": record.payload["message"]})

    @hookimpl
    def sailjobs_sandbox_job_kinds():
        return [PingKind()]
"""
PING_MANIFEST = """
    jobs:
      vip:
        job: export_list_data
        list: VIP
      ping:
        job: acme_ping
        message: hello
"""


def test_sandbox_job_kinds_hook_runs_a_plugins_job_type_on_the_sandbox(tmp_path, install):
    install("acme-ping", PING_TYPE + PING_KIND, entry_name="ping")
    path = write(tmp_path, PING_MANIFEST)

    result = run(path, sandbox=True, state=tmp_path / "state")

    assert result.succeeded
    ping = result.jobs["ping"].outputs
    assert (ping["name"], ping["echo"], ping["status"]) == ("Ping: hello", "hello", "completed")


def test_a_job_type_without_a_kind_is_refused_by_run_sandbox_before_sending(
    tmp_path, install, sandbox_factory
):
    from click.testing import CliRunner

    from runner.cli import cli
    from runner.sailthru.client import SailthruClient

    install("acme-ping", PING_TYPE, entry_name="ping")
    path = write(tmp_path, PING_MANIFEST)

    done = CliRunner().invoke(cli, ["run", str(path), "--sandbox", "--state", str(tmp_path)])

    assert done.exit_code == ExitCode.INVALID
    # One line, and no job was submitted: not even the export the sandbox could run.
    assert done.output == (
        "error: the sandbox cannot run acme_ping (plugin ping): no JobKind is registered for"
        " it through sailjobs_sandbox_job_kinds (docs/plugins.md); run it against Sailthru"
        " instead, or leave its jobs out: --exclude ping\n"
    )
    # A sandbox started on its own (run_on_sandbox's) answers as Sailthru does an unknown type.
    box = sandbox_factory()
    with SailthruClient(box.api_key, box.secret, box.url) as client:
        result = run(path, client=client, state=tmp_path / "state")
    assert result.jobs["vip"].status is JobStatus.SUCCEEDED
    assert "Invalid job type: acme_ping" in (result.jobs["ping"].error or "")


def test_action_types_hook_settings_are_validated_with_the_manifest(tmp_path):
    from runner.manifest.loader import load_manifest
    from runner.problems import ManifestError

    path = write(
        tmp_path,
        """
        jobs:
          a:
            job: export_scheduled_sends
            on_failure:
              - email: {to: [crm@example.com], password: hunter22}
              - chat: {kind: discord, webhook: "https://hooks.example.com/x"}
              - s3: {bucket: crm-exports, sse: AES256, kms_key_id: k}
              - emial: {}
        """,
    )
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    rendered = [problem.render() for problem in caught.value.problems]
    assert [line.split(": ")[0:2] for line in rendered] == [
        [f"{path}:12:50", "jobs.a.on_failure[0].email.password"],
        [f"{path}:13:22", "jobs.a.on_failure[1].chat.kind"],
        [f"{path}:14:9", "jobs.a.on_failure[2].s3"],
        [f"{path}:15:9", "jobs.a.on_failure[3].emial"],
    ]
    text = "\n".join(rendered)
    assert "never put credentials in a manifest" in text
    assert "'slack', 'teams' or 'webhook'" in text
    assert "kms_key_id needs sse: aws:kms" in text
    assert "unknown action 'emial'" in text and "did you mean 'email'?" in text
    assert "hunter22" not in text


def test_sandbox_job_kinds_hook_adds_a_kind_and_a_clash_names_both(sandbox_factory) -> None:
    from runner.plugins import PluginError
    from runner.sandbox.kinds import Accepted, JobKind, Outcome

    class Echo(JobKind):
        def __init__(self, job: str) -> None:
            self.job = job

        def validate(self, payload: Any, upload: Any, env: Any) -> Accepted:
            return Accepted(f"Echo {self.job}")

        def run(self, record: Any, env: Any) -> Outcome:
            return Outcome({"echoed": True})

    class Kinds:
        def __init__(self, *jobs: str) -> None:
            self.jobs = jobs

        @hookimpl
        def sailjobs_sandbox_job_kinds(self) -> list[JobKind]:
            return [Echo(job) for job in self.jobs]

    get_plugin_manager().register(Kinds("acme_echo"), name="echo-kinds")
    sandbox = sandbox_factory(seed=None)
    assert {"acme_echo", "import", "export_list_data"} <= set(sandbox.job_kinds)
    get_plugin_manager().register(Kinds("import"), name="clashing-kinds")
    clash = "'import' is registered by both 'runner.sandbox.builtinkinds' and 'clashing-kinds'"
    with pytest.raises(PluginError, match=re.escape(clash)):
        sandbox_factory(seed=None)


HOOK_TESTS = {
    "sailjobs_sandbox_job_kinds": test_sandbox_job_kinds_hook_adds_a_kind_and_a_clash_names_both,
    "sailjobs_job_types": test_job_types_hook_adds_a_job_type,
    "sailjobs_action_types": test_action_types_hook_settings_are_validated_with_the_manifest,
    "sailjobs_run_started": test_every_hook_in_order_each_job_finished_once,
    "sailjobs_job_submitted": test_every_hook_in_order_each_job_finished_once,
    "sailjobs_job_finished": test_a_raising_plugin_is_reported_with_its_name_and_job_and_the_others_run,
    "sailjobs_run_finished": test_every_hook_in_order_each_job_finished_once,
    "sailjobs_register_commands": test_register_commands_hook_adds_a_command,
}


def test_every_hookspec_has_a_test():
    hooks = {name for name in dir(hookspecs) if name.startswith("sailjobs_")}
    assert hooks == set(HOOK_TESTS), "add a test for the new hook to HOOK_TESTS"


def test_a_webhook_that_is_down_fails_the_notify_with_a_clear_masked_message(
    sandbox, client, tmp_path
):
    from plugin_servers import free_port

    hook = f"http://127.0.0.1:{free_port()}/services/T0/B0/very-secret-token"
    path = write(
        tmp_path,
        """
        jobs:
          a:
            job: export_scheduled_sends
        notify:
          always:
            - chat: {webhook: "${{ env.HOOK_URL }}", retries: 1, retry_delay: 0}
        """,
    )
    result = run(
        path, client=client, state=tmp_path / "state",
        env={**os.environ, "HOOK_URL": hook}, progress=Messages(),
    )  # fmt: skip
    assert result.jobs["a"].status is JobStatus.SUCCEEDED
    assert exit_code_for(result) == ExitCode.JOB_FAILED  # the run did not do all it was asked
    [chat] = result.actions
    assert not chat.succeeded
    assert chat.error.startswith("chat: slack webhook http://127.0.0.1:")
    assert "cannot reach it (ConnectionError) after 2 attempt(s)" in chat.error
    assert "very-secret-token" not in repr(result)
