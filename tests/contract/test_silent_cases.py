"""Where the job API page is silent, the runner warns and the sandbox accepts: refusing would
block a job a real account may well take, and inventing an error would teach users an API
that does not exist."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests
import yaml
from sailthru.sailthru_client import SailthruClient

from runner.manifest.loader import load_manifest
from runner.problems import ManifestError
from runner.sandbox import Sandbox
from tests.sandbox.conftest import poll

SILENT: dict[str, tuple[dict[str, object], str]] = {
    # name: (payload, the parameter the warning is about)
    "two-sources": (
        {
            "job": "import",
            "list": "Silent",
            "emails": "ada@example.com",
            "url": "https://example.com/users.csv",
        },
        "url",
    ),
    "an-address-that-is-not-one": (
        {"job": "import", "list": "Silent", "emails": "ada@example.com,alan"},
        "emails",
    ),
    "hash-algo-in-capitals": (
        {"job": "export_list_data", "list": "Main Newsletter", "hash_algo": "SHA256"},
        "hash_algo",
    ),
    "undocumented-hash-algo": (
        {"job": "export_list_data", "list": "Main Newsletter", "hash_algo": "sha1"},
        "hash_algo",
    ),
    "undocumented-field": (
        {"job": "export_list_data", "list": "Main Newsletter", "fields": {"opns": 1}},
        "fields.opns",
    ),
    "postback-url-not-a-url": (
        {"job": "export_scheduled_sends", "postback_url": "hooks.example.com/sailthru"},
        "postback_url",
    ),
    "report-email-not-an-address": (
        {"job": "export_scheduled_sends", "report_email": "not-an-address"},
        "report_email",
    ),
}


@pytest.mark.parametrize("name", sorted(SILENT))
def test_validate_warns_and_does_not_refuse(name: str, tmp_path: Path) -> None:
    payload, param = SILENT[name]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "name": "silent", "jobs": {"j": payload}}))
    loaded = load_manifest(manifest)  # raises on an error
    assert [warning.path for warning in loaded.warnings] == [f"jobs.j.{param}"]
    assert "(the API would answer" not in loaded.warnings[0].message


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    box = Sandbox(data_dir=tmp_path_factory.mktemp("silent"), seed="demo", job_time=0.05)
    box.start()
    yield SailthruClient(box.api_key, box.secret, box.url)
    box.stop()


@pytest.mark.parametrize("name", sorted(SILENT))
def test_the_sandbox_accepts(client: SailthruClient, name: str) -> None:
    payload, _ = SILENT[name]
    response = client.api_post("job", payload)
    assert response.get_status_code() == 200, response.get_body()


def test_no_list_name_length_limit_is_invented(client: SailthruClient) -> None:
    long_name = "Campaign " + "x" * 300  # no limit is documented
    response = client.api_post("job", {"job": "import", "list": long_name, "emails": "a@b.io"})
    assert response.get_status_code() == 200, response.get_body()


def test_hash_algo_in_capitals_hashes_with_sha256(client: SailthruClient) -> None:
    job = client.api_post(
        "job", {"job": "export_list_data", "list": "VIP", "hash_algo": "SHA256"}
    ).get_body()
    done = poll(client, job["job_id"])
    text = requests.get(done["export_url"], timeout=10).text
    first_hash = text.splitlines()[1].split(",")[1]
    assert len(first_hash) == len(hashlib.sha256().hexdigest())


@pytest.mark.parametrize("emails", ["nobody, n/a", ",", " , \n"])
def test_emails_with_no_address_validate_refuses_the_sandbox_says_so(
    client: SailthruClient, emails: str, tmp_path: Path
) -> None:
    """Futile, not refused by the API's page: validate refuses what can only import nobody;
    the sandbox takes it and its answer says why nobody was imported."""
    payload = {"job": "import", "list": "Futile", "emails": emails}
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"version": 1, "name": "futile", "jobs": {"j": payload}}))
    with pytest.raises(ManifestError, match="so the import would add nobody"):
        load_manifest(manifest)
    job = client.api_post("job", payload).get_body()
    done = poll(client, job["job_id"])
    assert done["status"] == "completed" and done["import_count"] == 0
    expected = "no valid address among" if emails.strip(" ,\n") else "`emails` holds no address"
    assert expected in done["import_warning"]
