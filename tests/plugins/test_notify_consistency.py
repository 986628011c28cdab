"""The notify report agrees with the run's result: one summary sentence with the same
counts as the run's summary, every failed action told once with its attempts, and the
notify actions that failed before this one."""

from __future__ import annotations

from plugin_results import make_context, make_job, make_run
from sailjobs_chat import ChatSettings, slack_payload, teams_payload, webhook_payload
from sailjobs_email import render_html, render_text

from runner.executor.progress import summary_lines
from runner.results import ActionResult, JobStatus, RunResult


def failing_run() -> RunResult:
    download = ActionResult("download", "builtin", "on_success", 0, False, 3, {}, "disk full")
    webhook = ActionResult("chat", "sailjobs_chat", "always", 0, False, 1, {}, "HTTP 500")
    run = make_run(
        make_job(
            "export-main",
            JobStatus.FAILED,
            error="action 'download' (on_success #1) failed: disk full",
            actions=[download],
        ),
        make_job("vip", actions=[webhook]),  # continue_on_error: the job succeeded
        make_job("purchases", JobStatus.TIMED_OUT, error="timed out after 2h"),
        make_job("cleanup", JobStatus.SKIPPED, seconds=None, error="needs 'export-main'"),
    )
    run.jobs["export-main"].attempts = 2  # submitted twice (resubmit-safe, after a drop)
    run.actions.append(ActionResult("email", "sailjobs_email", "always", 0, False, 4, {}, "down"))
    return run


SENTENCE = (
    "Run run-20261127-0600 of nightly-crm: failed (1 succeeded, 1 failed, 1 timed out, "
    "1 skipped); notify action email failed: down"
)


def test_the_summary_fields_count_failures_as_the_run_does() -> None:
    fields = make_context(failing_run()).summary_fields()
    assert (fields["total"], fields["succeeded"], fields["failed"]) == ("4", "1", "2")


def test_the_email_tells_each_failure_once_with_its_attempts() -> None:
    ctx = make_context(failing_run())
    text = render_text(ctx)
    assert text.splitlines()[0] == SENTENCE
    assert (
        text.count("disk full") == 1 and text.count("failed: down") == 1
    )  # the notify's: in the sentence
    assert "action 'download' (on_success #1) failed: disk full (3 attempts)" in text
    assert "action chat (always) failed: HTTP 500" in text  # the job that succeeded anyway
    assert "submitted 2 times" in text
    html = render_html(ctx)
    assert html.count("disk full") == 1 and "notify action email failed: down" in html


def test_the_chat_message_says_the_same() -> None:
    ctx = make_context(failing_run())
    settings = ChatSettings(webhook="https://hooks.example.com/services/T/B/x")
    slack = slack_payload(settings, ctx)
    text = "\n".join(block["text"]["text"] for block in slack["blocks"][1:-1])
    assert text.count("disk full") == 1 and "HTTP 500" in text and "submitted 2 times" in text
    assert slack["blocks"][-1]["elements"][0]["text"] == f"{SENTENCE} · sailjobs"
    teams = teams_payload(settings, ctx)["attachments"][0]["content"]["body"]
    assert teams[-1]["text"] == SENTENCE
    assert webhook_payload(settings, ctx)["summary"] == SENTENCE


def test_the_terminal_summary_lists_the_same_problems() -> None:
    lines = summary_lines(failing_run())
    *problems, advice = [line.strip() for line in lines[1:]]
    assert advice.endswith("--retry-failed` submits again only what failed")
    assert problems == [
        "export-main: failed: action 'download' (on_success #1) failed: disk full (3 attempts)",
        "vip: action chat (always) failed: HTTP 500",
        "purchases: timed_out: timed out after 2h",
        "cleanup: skipped: needs 'export-main'",
        "notify email (always): down",
    ]


def test_the_summary_sentence_cuts_a_long_notify_error_short() -> None:
    run = failing_run()
    run.actions[0].error = "550 mailbox unavailable\n" + "x" * 5000
    sentence = make_context(run).summary_sentence()
    assert "notify action email failed: 550 mailbox unavailable xxx" in sentence  # one line
    assert len(sentence) < 600 and sentence.endswith("…")


def test_a_short_action_error_inside_an_unrelated_job_error_is_still_told() -> None:
    chat = ActionResult("chat", "sailjobs_chat", "always", 0, False, 1, {}, "down")
    job = make_job(
        "export-main",
        JobStatus.FAILED,
        error="Sailthru error 99: the list server is down for maintenance",
        actions=[chat],
    )
    assert job.problems() == [
        "Sailthru error 99: the list server is down for maintenance",
        "action chat (always) failed: down",  # not hidden by the "down" in the job's error
    ]
    # The job error that names the action (as the executor writes it) tells it: once.
    download = ActionResult("download", "builtin", "on_success", 1, False, 3, {}, "disk full")
    job.error, job.actions = "action 'download' (on_success #2) failed: disk full", [download]
    assert job.problems() == ["action 'download' (on_success #2) failed: disk full (3 attempts)"]
