"""The contract suite's target: the sandbox (in CI), or a real account.

With ``SAILJOBS_CONTRACT_URL``, ``SAILJOBS_CONTRACT_KEY`` and ``SAILJOBS_CONTRACT_SECRET``
set, the suite runs against that account, and only its read-only subset: exports (of the
list named by ``SAILJOBS_CONTRACT_LIST``), scheduled sends, and the error rows whose
payloads could create nothing even if the account took them (exports, bad JSON, a
purchase_import without a file). Every other test is skipped
with the reason. A difference from the page fails its test, so the run lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Sandbox
from tests.contract.scenarios import SMALL_UPLOAD_LIMIT

ENV = ("SAILJOBS_CONTRACT_URL", "SAILJOBS_CONTRACT_KEY", "SAILJOBS_CONTRACT_SECRET")


@dataclass(frozen=True)
class Target:
    """Where the contract suite sends its requests."""

    name: str  # "sandbox" or the account's URL
    url: str
    api_key: str
    secret: str
    real: bool
    list_name: str  # a list the account has, for read-only exports
    timeout: float  # seconds a job may take to finish

    def official_client(self) -> SailthruClient:
        return SailthruClient(self.api_key, self.secret, self.url)

    def allow(self, read_only: bool, why: str) -> None:
        """Skip a test that could write to a real account."""
        if self.real and not read_only:
            pytest.skip(f"not run on a real account: {why}")


def real_target() -> Target | None:
    given = {name: os.environ.get(name, "") for name in ENV}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise pytest.UsageError(
            f"the contract suite needs all of {', '.join(ENV)}; {', '.join(missing)} "
            "not set (set them all to run against a real account, or none for the sandbox)"
        )
    url = given["SAILJOBS_CONTRACT_URL"].rstrip("/")
    return Target(
        name=url,
        url=url,
        api_key=given["SAILJOBS_CONTRACT_KEY"],
        secret=given["SAILJOBS_CONTRACT_SECRET"],
        real=True,
        list_name=os.environ.get("SAILJOBS_CONTRACT_LIST", ""),
        timeout=float(os.environ.get("SAILJOBS_CONTRACT_TIMEOUT", "900")),
    )


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    real = real_target()
    if real is not None:
        yield real
        return
    box = Sandbox(
        data_dir=tmp_path_factory.mktemp("contract-sandbox"),
        seed="demo",
        job_time=0.05,
        max_upload=SMALL_UPLOAD_LIMIT,
    )
    box.start()
    yield Target("sandbox", box.url, box.api_key, box.secret, False, "Main Newsletter", 30.0)
    box.stop()
