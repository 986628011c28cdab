"""The ``chat`` action against a real HTTP receiver on loopback (incl. 429 and 500 answers)."""

from __future__ import annotations

import logging

import pytest
from plugin_results import make_context, make_job, make_run
from pydantic import ValidationError
from sailjobs_chat import ChatAction, ChatError, ChatSettings

from runner.masking import mask
from runner.results import JobStatus


def chat(webhook, **extra) -> ChatSettings:
    return ChatSettings.model_validate({"webhook": webhook.url, "retry_delay": 0, **extra})


def test_slack_block_kit_one_line_per_job(webhook, mixed_run):
    outputs = ChatAction().run(chat(webhook, kind="slack"), make_context(mixed_run))

    assert outputs == {"kind": "slack", "attempts": 1}
    [request] = webhook.requests
    assert request.path == "/services/T000/B000/secret-token-1234"
    assert request.headers["Content-Type"] == "application/json"
    payload = request.json()
    assert payload["text"] == "nightly-crm: failed"
    header, section, context = payload["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "nightly-crm: failed", "emoji": True},
    }
    lines = section["text"]["text"].splitlines()
    assert lines == [
        "✅ *export-main* (export_list_data, succeeded, 1m5s, 12,345 rows)",
        "❌ *reimport* (import, failed, 1h2m5s): Sailthru error 99: List Import failed: "
        "&lt;unknown list&gt;",
        "⏱️ *purchases* (export_purchase_log, timed_out, 2h)",
        "⏭️ *cleanup* (export_list_data, skipped): needs 'reimport' (failed)",
    ]
    assert context["type"] == "context"
    assert "run-20261127-0600" in context["elements"][0]["text"]


def test_server_text_in_a_slack_message_mentions_and_links_nobody(webhook):
    error = "list <!channel> not found; see <http://evil.example|the fix> & retry"
    job = make_job("a", JobStatus.FAILED, error=error)
    ChatAction().run(chat(webhook, kind="slack"), make_context(make_run(job)))
    text = webhook.requests[0].json()["blocks"][1]["text"]["text"]
    assert text.endswith(
        "list &lt;!channel&gt; not found; see &lt;http://evil.example|the fix&gt; &amp; retry"
    )


def test_slack_splits_long_runs_into_sections_within_limits(webhook):
    jobs = [make_job(f"job-{n:03d}-{'x' * 60}") for n in range(120)]
    ChatAction().run(chat(webhook), make_context(make_run(*jobs)))
    sections = [b for b in webhook.requests[0].json()["blocks"] if b["type"] == "section"]
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    assert sum(s["text"]["text"].count("\n") + 1 for s in sections) == 120


def test_teams_adaptive_card(webhook, mixed_run):
    ChatAction().run(chat(webhook, kind="teams"), make_context(mixed_run))
    payload = webhook.requests[0].json()
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    title, *job_blocks, footer = card["body"]
    assert title["text"] == "nightly-crm: failed" and title["color"] == "Attention"
    assert [b["text"].split(" (")[0] for b in job_blocks] == [
        "✅ export-main",
        "❌ reimport",
        "⏱️ purchases",
        "⏭️ cleanup",
    ]
    assert footer["text"] == (
        "Run run-20261127-0600 of nightly-crm: failed "
        "(1 succeeded, 1 failed, 1 timed out, 1 skipped)"
    )


def test_generic_webhook_json_for_a_job_action(webhook, mixed_run):
    job = mixed_run.jobs["reimport"]
    ChatAction().run(
        chat(webhook, kind="webhook", title="{job} {status} in {manifest}"),
        make_context(mixed_run, job),
    )
    payload = webhook.requests[0].json()
    assert payload["title"] == "reimport failed in nightly-crm"
    assert payload["status"] == "failed" and payload["job"] == "reimport"
    assert payload["jobs"] == [
        {
            "id": "reimport",
            "job_type": "import",
            "status": "failed",
            "remote_job_id": "5843a6b8e1d4a3d7b8a1c2d3",
            "duration_seconds": 3725.0,
            "rows": None,
            "error": "Sailthru error 99: List Import failed: <unknown list>",
        }
    ]
    assert len(payload["lines"]) == 1


def test_429_waits_for_retry_after_then_posts(webhook, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sailjobs_chat._wait", waits.append)
    webhook.answer(429, "rate_limited", {"Retry-After": "7"})
    outputs = ChatAction().run(chat(webhook), make_context(make_run(make_job("a"))))
    assert outputs["attempts"] == 2
    assert waits == [7.0]
    assert len(webhook.requests) == 2


def test_retry_after_is_capped(webhook, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sailjobs_chat._wait", waits.append)
    webhook.answer(429, "", {"Retry-After": "3600"})
    ChatAction().run(chat(webhook, max_retry_after=30), make_context(make_run()))
    assert waits == [30.0]


def test_5xx_is_retried_with_backoff_then_a_clear_error(webhook, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr("sailjobs_chat._wait", waits.append)
    for _ in range(4):
        webhook.answer(500, "internal_error")
    with pytest.raises(ChatError) as caught:
        ChatAction().run(
            chat(webhook, retries=3, retry_delay=0.5), make_context(make_run(make_job("a")))
        )
    assert len(webhook.requests) == 4
    assert waits == [0.5, 1.0, 2.0]
    message = str(caught.value)
    assert message.startswith("chat: slack webhook http://127.0.0.1:")
    assert "answered 500 internal_error after 4 attempt(s)" in message
    assert "secret-token-1234" not in message


def test_5xx_then_success(webhook):
    webhook.answer(503, "busy")
    webhook.answer(502, "")
    outputs = ChatAction().run(chat(webhook), make_context(make_run()))
    assert outputs["attempts"] == 3


def test_4xx_is_not_retried(webhook):
    webhook.answer(404, "no_service")
    with pytest.raises(ChatError, match="answered 404 no_service; check the webhook URL"):
        ChatAction().run(chat(webhook), make_context(make_run()))
    assert len(webhook.requests) == 1


def test_receiver_down_fails_after_retries():
    from plugin_servers import free_port

    url = f"http://127.0.0.1:{free_port()}/hooks/very-secret-path"
    settings = ChatSettings.model_validate({"webhook": url, "retries": 1, "retry_delay": 0})
    with pytest.raises(ChatError) as caught:
        ChatAction().run(settings, make_context(make_run()))
    message = str(caught.value)
    assert "cannot reach it (ConnectionError) after 2 attempt(s)" in message
    assert "very-secret-path" not in message


def test_webhook_url_is_masked_everywhere(webhook, caplog):
    settings = chat(webhook)
    assert webhook.url not in repr(settings)
    assert mask(f"posting to {webhook.url}") == "posting to ***"
    job = make_job("a", JobStatus.FAILED, error=f"upstream said {webhook.url} is wrong")
    with caplog.at_level(logging.INFO):
        ChatAction().run(settings, make_context(make_run(job)))
    assert "secret-token-1234" not in webhook.requests[0].body.decode()
    assert "secret-token-1234" not in caplog.text


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"kind": "discord"}, "kind", "'slack', 'teams' or 'webhook'"),
        ({"webhook": "hooks.slack.com/x"}, "webhook", "must be an http(s) URL"),
        ({"title": "{manifest} {when}"}, "title", "unknown placeholder {when}"),
        ({"retries": -1}, "retries", "greater than or equal to 0"),
        ({"channel": "#crm"}, "channel", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_fail_validation_at_their_key(data, where, message):
    with pytest.raises(ValidationError) as caught:
        ChatSettings.model_validate({"webhook": "https://hooks.example.com/x", **data})
    [error] = caught.value.errors()
    assert error["loc"][0] == where
    assert message in error["msg"]


def test_unresolved_expression_passes_validation():
    settings = ChatSettings.model_validate({"webhook": "${{ env.SLACK_WEBHOOK }}"})
    assert settings.kind == "slack"


def test_a_notify_error_in_the_slack_context_mentions_nobody_and_fits_slack(webhook):
    from runner.results import ActionResult

    run = make_run(make_job("a"))
    error = "550 <!channel> see <http://evil.example|here> " + "x" * 5000
    for index in range(15):  # each error is cut short in the sentence; 15 of them are not
        run.actions.append(
            ActionResult("email", "sailjobs_email", "always", index, False, 1, {}, error)
        )
    ChatAction().run(chat(webhook, kind="slack"), make_context(run))
    context = webhook.requests[0].json()["blocks"][-1]["elements"][0]["text"]
    assert "<!channel>" not in context and "<http" not in context
    assert "550 &lt;!channel&gt; see &lt;http://evil.example|here&gt;" in context
    assert len(context) <= 3000  # Slack refuses a longer text
    assert context.endswith(" · sailjobs")
