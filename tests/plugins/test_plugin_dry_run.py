"""The first-party actions' checks before the run (``ActionType.check``): S3 credentials and
bucket against moto, an SMTP login against aiosmtpd, a webhook URL; each fails ``sailjobs
plan`` at its line and makes ``sailjobs run`` refuse before its first POST. Real ``sailjobs``
processes, the sandbox and the servers on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from click.testing import CliRunner

from runner.actions import (
    ActionContext,
    ActionSettings,
    ActionType,
    DryRunContext,
    SettingProblem,
)
from runner.cli import cli
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager

SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
HEADER = """\
version: 1
name: dry
defaults: {timeout: 30s, poll: {initial: 0.05s, max: 0.2s}}
jobs:
  sends:
    job: export_scheduled_sends
"""


def sailjobs(
    sandbox: Any, workdir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMTP_", "HOOK"))}
    base |= {
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        "AWS_CONFIG_FILE": str(workdir / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance role to look for on this machine
        **env,
    }
    base.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [SAILJOBS, *args], cwd=workdir, env=base, capture_output=True, text=True, timeout=120
    )


def plan_and_run(
    sandbox: Any, workdir: Path, actions: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    body = HEADER + "    on_success:\n" + textwrap.indent(textwrap.dedent(actions), "      ")
    (workdir / "m.yaml").write_text(body, encoding="utf-8")
    planned = sailjobs(sandbox, workdir, "plan", "m.yaml", **env)
    ran = sailjobs(sandbox, workdir, "run", "m.yaml", "--state", "st", **env)
    return planned, ran


def posts(sandbox: Any) -> list[tuple[str, str, int]]:
    return [entry for entry in sandbox.request_log if entry[0] == "POST"]


def assert_refused(done: subprocess.CompletedProcess[str], where: str, text: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    line = next((line for line in done.stdout.splitlines() if f": {where}: " in line), "")
    assert text in line, done.stdout


AWS_KEYS = {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


@pytest.fixture
def bucket(moto_endpoint: str, aws_env: None) -> str:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    s3.close()
    return name


def test_s3_without_credentials_fails_the_plan_and_the_run(
    sandbox: Any, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    planned, ran = plan_and_run(
        sandbox,
        tmp_path,
        f"- s3: {{bucket: {bucket}, endpoint_url: '{moto_endpoint}', source: x.csv}}\n",
    )
    for done in (planned, ran):
        assert_refused(done, "jobs.sends.on_success[0].s3", "s3: no AWS credentials found")
    assert posts(sandbox) == []  # before: found only after the export finished


def test_s3_with_an_unknown_bucket_fails_at_the_bucket_line(
    sandbox: Any, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    planned, ran = plan_and_run(
        sandbox,
        tmp_path,
        f"- s3: {{bucket: no-such-bucket-here, endpoint_url: '{moto_endpoint}', source: x.csv}}\n",
        **AWS_KEYS,
    )
    for done in (planned, ran):
        assert_refused(
            done,
            "jobs.sends.on_success[0].s3.bucket",
            "bucket 'no-such-bucket-here' does not exist",
        )
    assert posts(sandbox) == []


def test_s3_with_credentials_and_its_bucket_plans(
    sandbox: Any, moto_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text(
        HEADER
        + f"    on_success:\n      - s3: {{bucket: {bucket}, endpoint_url: '{moto_endpoint}', source: x.csv}}\n"
    )
    planned = sailjobs(sandbox, tmp_path, "plan", "m.yaml", **AWS_KEYS)
    assert planned.returncode == 0, planned.stdout + planned.stderr


def email_action(sink: Any) -> str:
    return (
        f"- email: {{to: [ops@example.com], host: 127.0.0.1, port: {sink.port}, "
        "user_env: SMTP_USER, password_env: SMTP_PASSWORD}\n"
    )


def test_an_smtp_server_refusing_the_login_fails_the_plan_and_the_run(
    sandbox: Any, smtp_sink: Any, tmp_path: Path
) -> None:
    sink = smtp_sink(credentials=("mailer", "right"))
    planned, ran = plan_and_run(
        sandbox, tmp_path, email_action(sink), SMTP_USER="mailer", SMTP_PASSWORD="wrong-password"
    )
    for done in (planned, ran):
        assert_refused(done, "jobs.sends.on_success[0].email.user_env", "refused the login (535)")
        assert "wrong-password" not in done.stdout + done.stderr
    assert posts(sandbox) == []
    assert sink.messages == []


def test_an_smtp_login_accepted_plans_and_sends_no_mail(
    sandbox: Any, smtp_sink: Any, tmp_path: Path
) -> None:
    sink = smtp_sink(credentials=("mailer", "right"))
    (tmp_path / "m.yaml").write_text(HEADER + "    on_success:\n      " + email_action(sink))
    planned = sailjobs(
        sandbox, tmp_path, "plan", "m.yaml", SMTP_USER="mailer", SMTP_PASSWORD="right"
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert sink.auth_attempts >= 1 and sink.messages == []


def test_an_unset_smtp_password_variable_is_found_offline(
    sandbox: Any, smtp_sink: Any, tmp_path: Path
) -> None:
    sink = smtp_sink(credentials=("mailer", "right"))
    (tmp_path / "m.yaml").write_text(HEADER + "    on_success:\n      " + email_action(sink))
    planned = sailjobs(sandbox, tmp_path, "plan", "m.yaml", "--offline", SMTP_USER="mailer")
    assert_refused(
        planned,
        "jobs.sends.on_success[0].email.password_env",
        "SMTP_PASSWORD (password_env) is not set",
    )
    assert sink.auth_attempts == 0  # --offline reaches no server


def test_an_empty_webhook_fails_the_plan_and_the_run(sandbox: Any, tmp_path: Path) -> None:
    planned, ran = plan_and_run(
        sandbox, tmp_path, '- chat: {webhook: "${{ env.HOOK_URL }}"}\n', HOOK_URL=""
    )
    for done in (planned, ran):
        assert_refused(done, "jobs.sends.on_success[0].chat.webhook", "webhook is empty")
    assert posts(sandbox) == []


class ArchiveSettings(ActionSettings):
    folder: str


class ArchiveAction(ActionType):
    """An in-house action: its check goes through the path the built-in ones take."""

    name: ClassVar[str] = "archive"
    settings_model: ClassVar[type[ActionSettings]] = ArchiveSettings

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        if not (ctx.workdir / settings.folder).is_dir():
            yield SettingProblem("folder", f"no folder {settings.folder} to archive into")
        if ctx.network:
            yield SettingProblem(None, "the archive server said no")

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        return {}


class ArchivePlugin:
    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [ArchiveAction()]


def test_an_in_house_action_s_check_is_reported_at_its_setting_and_its_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = HEADER + 'notify:\n  always:\n    - archive: {folder: "${{ env.ARCHIVE }}"}\n'
    (tmp_path / "m.yaml").write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHIVE", "vault")
    for name in ("SAILTHRU_API_KEY", "SAILTHRU_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    manager = get_plugin_manager()
    manager.register(ArchivePlugin(), name="archive-plugin")
    try:
        online = CliRunner().invoke(cli, ["plan", "m.yaml"])
        offline = CliRunner().invoke(cli, ["plan", "m.yaml", "--offline"])
    finally:
        manager.unregister(name="archive-plugin")

    assert online.exit_code == 2, online.output
    assert (
        "m.yaml:9:25: notify.always[0].archive.folder: no folder vault to archive into"
        in online.output
    )
    assert "m.yaml:9:7: notify.always[0].archive: the archive server said no" in online.output
    assert offline.exit_code == 2, offline.output
    assert "archive.folder: no folder vault" in offline.output
    assert "the archive server said no" not in offline.output  # --offline: no network check
