"""Issue 13, item 5: no secret in any output of a run.

One real ``sailjobs run`` (a subprocess, on the embedded sandbox) with a failing job, a
plugin action that lets a ``requests`` exception about a secret URL escape, a plugin hook
that raises with a secret in its message, a chat notify received by a real webhook receiver
on loopback and a second one whose webhook fails and echoes its secret path. Then every
output is scanned: stdout, stderr, the JSON report, JUnit, the step summary, every byte of
the state folder and the chat message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_dists import write_distribution
from plugin_servers import WebhookReceiver, free_port

SAILJOBS = str(Path(sys.executable).parent / "sailjobs")

LEAKY_PLUGIN = """
import logging
import os
import warnings
from typing import Any, ClassVar

import requests

from runner.actions import ActionContext, ActionSettings, ActionType
from runner.hookspecs import hookimpl


class LeakySettings(ActionSettings):
    url: str


class Leaky(ActionType):
    '''Posts to a URL that is down and lets requests' ConnectionError escape (a plugin bug).'''

    name: ClassVar[str] = "leaky"
    settings_model: ClassVar[type[ActionSettings]] = LeakySettings
    attempts: ClassVar[int] = 1

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        # Its own logger and a Python warning, outside the sailjobs logger: masked too.
        logging.getLogger("leaky_plugin").error("posting to %s", settings.url)
        warnings.warn("leaky: posting to " + settings.url, UserWarning, stacklevel=1)
        requests.post(settings.url, timeout=5)
        return {}


@hookimpl
def sailjobs_action_types():
    return [Leaky()]


@hookimpl
def sailjobs_job_finished(result):
    endpoint = os.environ["CRM_ENDPOINT"].split("://", 1)[1]
    secret = os.environ["SAILTHRU_API_SECRET"].upper()
    raise RuntimeError(f"audit refused {result.id}: {secret} at {endpoint}")
"""

MANIFEST = """\
version: 1
name: secret-scan
secrets: [CRM_ENDPOINT]
defaults:
  timeout: 1m
  poll: {initial: 0.1s, max: 1s}
  retry: {attempts: 1, initial: 0.1s, max: 0.5s}
jobs:
  export-vip:
    job: export_list_data
    list: VIP
    on_success:
      - leaky: {url: "${{ env.CRM_ENDPOINT }}"}
  export-missing:
    job: export_list_data
    list: ${{ env.LIST_NAME }}
    on_failure:
      - leaky: {url: "${{ env.CRM_ENDPOINT | trim }}", continue_on_error: true}
notify:
  always:
    - chat: {webhook: "${{ env.SLACK_WEBHOOK }}", retries: 0, retry_delay: 0}
    - chat: {webhook: "${{ env.BROKEN_WEBHOOK }}", retries: 0, retry_delay: 0}
"""

API_KEY = "Key0f7e2c91ab54d3"
API_SECRET = "s3cr3t9d81f0a7c2e4"
CRM_USER_PASSWORD = "pa55w0rd-7731"
CRM_PATH_TOKEN = "aB3dE6gH9jK2mN5pQ8"
CRM_QUERY_TOKEN = "zX9yW8vU7tS6rQ5p"
BROKEN_TOKEN = "Br0kenT0ken4455XY"


def test_a_secret_scan_over_every_output_of_a_run_finds_nothing(tmp_path: Path) -> None:
    site = write_distribution(
        tmp_path / "site", "sailjobs-leaky", {"sailjobs_leaky": LEAKY_PLUGIN},
        {"leaky": "sailjobs_leaky"},
    )  # fmt: skip
    (tmp_path / "m.yaml").write_text(MANIFEST, encoding="utf-8")
    summary = tmp_path / "summary.md"
    crm = (
        f"http://crm:{CRM_USER_PASSWORD}@127.0.0.1:{free_port()}/v1/hooks/{CRM_PATH_TOKEN}"
        f"?token={CRM_QUERY_TOKEN}"
    )
    with WebhookReceiver() as chat, WebhookReceiver() as broken:
        broken_port = broken.server.server_address[1]
        broken_url = f"http://127.0.0.1:{broken_port}/services/T000/B000/{BROKEN_TOKEN}"
        broken.answer(404, f"no_service for /services/T000/B000/{BROKEN_TOKEN}")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SAILTHRU_")},
            "PYTHONPATH": str(site),
            "GITHUB_STEP_SUMMARY": str(summary),
            "SAILTHRU_API_KEY": API_KEY,
            "SAILTHRU_API_SECRET": API_SECRET,
            "CRM_ENDPOINT": f"  {crm}  ",
            "LIST_NAME": "No Such List",
            "SLACK_WEBHOOK": chat.url,
            "BROKEN_WEBHOOK": broken_url,
        }
        done = subprocess.run(
            [SAILJOBS, "run", "m.yaml", "--sandbox", "--state", "state",
             "--report", "run.json", "--junit", "junit.xml"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        [message] = chat.requests
        assert len(broken.requests) == 1

    outputs = {
        "stdout": done.stdout,
        "stderr": done.stderr,
        "report": (tmp_path / "run.json").read_text(encoding="utf-8"),
        "junit": (tmp_path / "junit.xml").read_text(encoding="utf-8"),
        "step summary": summary.read_text(encoding="utf-8"),
        "chat message": message.body.decode(),
    }
    for path in sorted((tmp_path / "state").rglob("*")):
        if path.is_file():
            outputs[f"state {path.name}"] = path.read_bytes().decode("utf-8", "replace")

    # The run did what the scan needs: a failed job, the leaky action and hook, both chats.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "export-missing" in outputs["report"]
    assert "ConnectionError" in outputs["report"] or "Max retries" in outputs["report"]
    assert "audit refused" in done.stdout
    assert "answered 404" in outputs["report"]
    assert "export-missing" in outputs["chat message"]

    secrets = [
        API_KEY, API_SECRET, CRM_USER_PASSWORD, CRM_PATH_TOKEN, CRM_QUERY_TOKEN, BROKEN_TOKEN,
        chat.url, "secret-token-1234",  # the receiver's webhook path
    ]  # fmt: skip
    found = [
        (where, secret)
        for where, text in outputs.items()
        for secret in secrets
        if secret.lower() in text.lower()  # an upper-cased secret is still the secret
    ]
    assert found == [], found
    assert "No Such List" in outputs["report"]  # an ordinary env value is not masked


BROKEN_AT_IMPORT = """
import os

raise ConnectionError("cannot fetch config from " + os.environ["CONFIG_URL_TOKEN"])
"""

RAISING_JOB_TYPES = """
import os
from runner.hookspecs import hookimpl


@hookimpl
def sailjobs_job_types():
    raise RuntimeError("registry at " + os.environ["CONFIG_URL_TOKEN"].upper() + " is down")
"""


RAISING_COMMANDS = """
import os
from runner.hookspecs import hookimpl


@hookimpl
def sailjobs_register_commands(cli):
    raise RuntimeError("license server " + os.environ["CONFIG_URL_TOKEN"] + " refused")
"""

# Every command a user runs after a plugin broke, the one its error recommends included.
COMMANDS = (
    ["run", "m.yaml", "--sandbox", "--state", "state"],
    ["validate", "m.yaml"],
    ["plan", "m.yaml"],
    ["plugins"],
    ["--help"],
)


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("broken-import", BROKEN_AT_IMPORT),
        ("broken-hook", RAISING_JOB_TYPES),
        ("broken-commands", RAISING_COMMANDS),
    ],
)
def test_a_plugin_that_fails_to_load_does_not_show_a_secret(
    name: str, source: str, tmp_path: Path
) -> None:
    secret_url = f"https://config.example.com/v1/{CRM_PATH_TOKEN}?sig={CRM_QUERY_TOKEN}"
    site = write_distribution(
        tmp_path / name, name, {name.replace("-", "_"): source}, {name: name.replace("-", "_")}
    )
    (tmp_path / "m.yaml").write_text(
        "version: 1\nname: x\njobs:\n  a: {job: export_list_data, list: VIP}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "CONFIG_URL_TOKEN": secret_url}
    for command in COMMANDS:
        done = subprocess.run(
            [SAILJOBS, *command], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        shown = done.stdout + done.stderr
        assert "Traceback" not in shown, (command, shown)
        assert f"{name}" in shown or done.returncode == 0, (command, shown)
        text = shown.lower()
        assert CRM_PATH_TOKEN.lower() not in text, (command, shown)
        assert CRM_QUERY_TOKEN.lower() not in text, (command, shown)
