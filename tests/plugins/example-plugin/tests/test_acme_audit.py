import json

MANIFEST = """
version: 1
name: nightly
defaults:
  poll: {initial: 0.1s, max: 0.5s}
jobs:
  export-vip:
    job: export_list_data
    list: VIP
    on_success:
      - audit_log: {path: audit/log.jsonl, note: exported}
"""


def test_audit_log_and_run_summary(run_on_sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_AUDIT_SUMMARY", str(tmp_path / "summary.json"))

    result = run_on_sandbox(MANIFEST)

    job = result.jobs["export-vip"]
    assert result.succeeded
    [line] = (tmp_path / "audit" / "log.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "run_id": result.run_id,
        "job": "export-vip",
        "remote_job_id": job.remote_job_id,
        "note": "exported",
    }
    assert job.outputs["audit_file"] == str(tmp_path / "audit" / "log.jsonl")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == {
        "run_id": result.run_id,
        "manifest": "nightly",
        "succeeded": True,
        "jobs": {"export-vip": "succeeded"},
    }
