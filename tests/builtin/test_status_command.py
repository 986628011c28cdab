"""``sailjobs status JOB_ID`` against the sandbox, through the real command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from runner.cli import cli
from runner.sailthru.client import SailthruClient
from runner.testing import wait_for_job


def env_for(sandbox, **overrides: str | None) -> dict[str, str | None]:
    env = {
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
        "SAILTHRU_API_URL": sandbox.url,
    }
    env.update(overrides)
    return env


@pytest.fixture
def export_job_id(sandbox) -> str:
    with SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url) as client:
        info = client.submit_job({"job": "export_list_data", "list": "VIP"})
    wait_for_job(sandbox, info.job_id)
    return info.job_id


def invoke(args: list[str], env: dict[str, str | None]):
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_prints_the_job_with_its_export_url_hidden(sandbox, export_job_id):
    result = invoke(["status", export_job_id], env_for(sandbox))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["job_id", export_job_id]
    assert lines[1].split(maxsplit=1) == ["name", "Export All List Data: VIP"]
    assert lines[2].split() == ["status", "completed"]
    export_line = next(line for line in lines if line.startswith("export_url"))
    assert export_line.split(maxsplit=1)[1] == f"{sandbox.url}/***  (--show-url prints it)"
    assert "/export/" not in result.stdout
    assert any(line.split() == ["list", "VIP"] for line in lines)
    assert sandbox.request_log[-1] == ("GET", "/job", 200)


def test_show_url_and_json(sandbox, export_job_id):
    full_url = sandbox.job(export_job_id)["export_url"]
    shown = invoke(["status", export_job_id, "--show-url"], env_for(sandbox))
    assert shown.exit_code == 0
    # Columns are as wide as the longest field name (postback_url, echoed by the GET).
    export_line = next(line for line in shown.stdout.splitlines() if line.startswith("export_url"))
    assert export_line.split() == ["export_url", full_url]
    as_json = invoke(["status", export_job_id, "--json"], env_for(sandbox))
    fields = json.loads(as_json.stdout)
    assert list(fields)[:3] == ["job_id", "name", "status"]
    assert fields["status"] == "completed" and fields["filename"] == "vip.csv"
    assert fields["export_url"] == f"{sandbox.url}/***"
    both = invoke(["status", export_job_id, "--json", "--show-url"], env_for(sandbox))
    assert json.loads(both.stdout)["export_url"] == full_url


def test_an_api_error_exits_1_with_its_message(sandbox):
    result = invoke(["status", "000000000000000000000000"], env_for(sandbox))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: job 000000000000000000000000: Sailthru API error")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("job_id", "prefix"),
    [
        ("58487498e9328b50588b4b54", ""),
        ("export-main", "'export-main' is not a Sailthru job id (it looks like a job's name in a "
         "manifest); "),
        ("12345", "'12345' is not a Sailthru job id; "),
    ],
)  # fmt: skip
def test_an_unknown_job_id_gets_a_hint_about_the_id_not_about_parameters(sandbox, job_id, prefix):
    result = invoke(["status", job_id], env_for(sandbox))
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert "parameters" not in line
    assert line.endswith(
        f"Job not found: {job_id} ({prefix}check the job id: Sailthru gives each submitted job "
        "one, 24 hexadecimal characters such as 58487498e9328b50588b4b54; `sailjobs run` "
        "prints it (`running · job_id …`) and its --report JSON holds it as remote_job_id)"
    )


def test_a_wrong_secret_exits_1_without_showing_secrets(sandbox, export_job_id):
    result = invoke(["status", export_job_id], env_for(sandbox, SAILTHRU_API_SECRET="not-it-9"))
    assert result.exit_code == 1
    assert "SAILTHRU_API_SECRET" in result.stderr
    assert "not-it-9" not in result.output + result.stderr


def test_missing_credentials_exit_2_naming_the_variables(sandbox):
    result = invoke(
        ["status", "x"], env_for(sandbox, SAILTHRU_API_KEY=None, SAILTHRU_API_SECRET="")
    )
    assert result.exit_code == 2
    assert "SAILTHRU_API_KEY and SAILTHRU_API_SECRET" in result.stderr
    assert not any(method for method, _, _ in sandbox.request_log)  # nothing was sent
