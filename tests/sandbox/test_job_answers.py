"""GET /job answers shaped like the seed's example: ``report_email`` and ``postback_url``
echoed from the POST, null when it did not give them."""

from __future__ import annotations

from sailthru.sailthru_client import SailthruClient

from runner.sandbox import Sandbox
from runner.testing import wait_for_job


def test_get_echoes_report_email_and_postback_url_as_null_when_not_given(
    sandbox: Sandbox, client: SailthruClient
) -> None:
    job_id = client.api_post("job", {"job": "export_list_data", "list": "VIP"}).get_body()["job_id"]
    answer = client.api_get("job", {"job_id": job_id}).get_body()
    assert "report_email" in answer and answer["report_email"] is None
    assert "postback_url" in answer and answer["postback_url"] is None


def test_get_echoes_report_email_and_postback_url_given_by_the_post(
    sandbox: Sandbox, client: SailthruClient
) -> None:
    payload = {
        "job": "export_scheduled_sends",
        "report_email": "crm@example.com",
        "postback_url": "http://127.0.0.1:9/hook",
    }
    job_id = client.api_post("job", payload).get_body()["job_id"]
    wait_for_job(sandbox, job_id)
    answer = client.api_get("job", {"job_id": job_id}).get_body()
    assert answer["status"] == "completed"
    assert answer["report_email"] == "crm@example.com"
    assert answer["postback_url"] == "http://127.0.0.1:9/hook"
    # The report email carries the same fields as the GET.
    [report] = [m for m in sandbox.outbox if m["To"] == "crm@example.com"]
    assert "postback_url: http://127.0.0.1:9/hook" in report.get_content()
