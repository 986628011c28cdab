"""The suite's real-account mode, rehearsed on a sandbox posing as the account: with the
SAILJOBS_CONTRACT_* variables set, only the read-only subset runs, and it passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.sandbox import Sandbox

REPO = Path(__file__).parents[2]


def run_suite(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/contract", "-k", "not real_account_mode"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_only_the_read_only_subset_runs_on_an_account(sandbox: Sandbox) -> None:
    env = {
        **os.environ,
        "SAILJOBS_CONTRACT_URL": sandbox.url,
        "SAILJOBS_CONTRACT_KEY": sandbox.api_key,
        "SAILJOBS_CONTRACT_SECRET": sandbox.secret,
        "SAILJOBS_CONTRACT_LIST": "VIP",
    }
    result = run_suite(env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "not run on a real account: import writes to the account" in result.stdout
    assert "could import if accepted" in result.stdout
    # The exports ran: three happy paths and the export error rows.
    assert " skipped" in result.stdout and " passed" in result.stdout


def test_a_partial_configuration_is_a_usage_error(sandbox: Sandbox) -> None:
    env = {**os.environ, "SAILJOBS_CONTRACT_URL": sandbox.url}
    env.pop("SAILJOBS_CONTRACT_KEY", None)
    env.pop("SAILJOBS_CONTRACT_SECRET", None)
    result = run_suite(env)
    assert result.returncode != 0
    assert (
        "SAILJOBS_CONTRACT_KEY, SAILJOBS_CONTRACT_SECRET not set" in result.stdout + result.stderr
    )


@pytest.fixture(autouse=True)
def _no_inherited_contract_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("URL", "KEY", "SECRET", "LIST"):
        monkeypatch.delenv(f"SAILJOBS_CONTRACT_{name}", raising=False)
