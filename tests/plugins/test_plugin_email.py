"""The ``email`` action against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import pytest
from plugin_results import make_context, make_job, make_run
from pydantic import ValidationError
from sailjobs_email import EmailAction, EmailError, EmailSettings

from runner.masking import register_url
from runner.results import JobStatus


def settings(sink, **extra) -> EmailSettings:
    return EmailSettings.model_validate(
        {"to": ["crm@example.com"], "host": sink.host, "port": sink.port, **extra}
    )


def login_settings(sink, certificate, **extra) -> EmailSettings:
    """STARTTLS with the test CA and the login from SMTP_USER / SMTP_PASSWORD."""
    return settings(
        sink,
        security="starttls",
        ca_file=str(certificate[0]),
        user_env="SMTP_USER",
        password_env="SMTP_PASSWORD",
        **extra,
    )


def parts(mail) -> tuple[str, str]:
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    html = mail.message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_notify_summary_has_every_job_with_status_duration_rows_and_failures(smtp_sink, mixed_run):
    sink = smtp_sink()
    outputs = EmailAction().run(
        settings(sink, cc="lead@example.com", bcc=["audit@example.com"], **{"from": "ci@x.io"}),
        make_context(mixed_run),
    )

    [mail] = sink.messages
    assert mail.sender == "ci@x.io"
    assert mail.recipients == ["crm@example.com", "lead@example.com", "audit@example.com"]
    assert "audit@example.com" not in str(mail.message)  # bcc only in the envelope
    assert mail.message["Subject"] == "[sailjobs] nightly-crm: failed"
    assert mail.message["Message-ID"] == outputs["message_id"]
    assert outputs["recipients"] == 3
    text, html = parts(mail)
    assert "Run run-20261127-0600 of nightly-crm: failed" in text
    assert "OK        export-main (export_list_data), 1m5s, 12,345 rows" in text
    assert "FAILED    reimport (import), 1h2m5s" in text
    assert "Sailthru error 99: List Import failed: <unknown list>" in text
    assert "TIMED OUT purchases" in text
    assert "SKIPPED   cleanup (export_list_data), -" in text
    assert "needs 'reimport' (failed)" in text
    # HTML: a table row per job, the failure message escaped.
    assert html.count("<tr>") == 5
    assert "List Import failed: &lt;unknown list&gt;" in html
    assert "12,345" in html


def test_job_action_summarises_its_job_and_subject_placeholders(smtp_sink, mixed_run):
    sink = smtp_sink()
    job = mixed_run.jobs["reimport"]
    EmailAction().run(
        settings(sink, subject="{job} {status} ({failed}/{total}) {date} {run_id}"),
        make_context(mixed_run, job),
    )

    [mail] = sink.messages
    assert mail.message["Subject"] == "reimport failed (1/1) 2026-11-27 run-20261127-0600"
    text, _ = parts(mail)
    assert "reimport" in text and "export-main" not in text


def test_starttls_with_login_from_environment(smtp_sink, certificate, monkeypatch):
    sink = smtp_sink(mode="starttls", cert=certificate, credentials=("mailer", "s3cret-pass"))
    monkeypatch.setenv("SMTP_USER", "mailer")
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret-pass")
    EmailAction().run(
        login_settings(sink, certificate),
        make_context(make_run(make_job("export-main"))),
    )

    [mail] = sink.messages
    assert mail.login == "mailer"
    assert "s3cret-pass" not in mail.message.as_string()


def test_implicit_ssl_with_ca_file_relative_to_the_manifest(smtp_sink, certificate):
    sink = smtp_sink(mode="ssl", cert=certificate)
    EmailAction().run(
        settings(sink, security="ssl", ca_file=certificate[0].name),
        make_context(make_run(make_job("export-main")), workdir=certificate[0].parent),
    )
    assert len(sink.messages) == 1


def test_untrusted_certificate_is_a_clear_error(smtp_sink, certificate):
    sink = smtp_sink(mode="starttls", cert=certificate)
    with pytest.raises(EmailError, match=r"certificate of SMTP server .* is not trusted.*ca_file"):
        EmailAction().run(settings(sink, security="starttls"), make_context(make_run()))
    assert sink.messages == []


def test_ssl_against_a_plain_server_says_which_setting_to_check(smtp_sink):
    sink = smtp_sink()
    with pytest.raises(
        EmailError, match=r"TLS handshake with SMTP server .* failed .*check security"
    ):
        EmailAction().run(settings(sink, security="ssl", retry_delay=0), make_context(make_run()))


def test_wrong_password_fails_at_once_without_retrying(smtp_sink, certificate, monkeypatch):
    sink = smtp_sink(mode="starttls", cert=certificate, credentials=("mailer", "right"))
    monkeypatch.setenv("SMTP_USER", "mailer")
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-password")
    with pytest.raises(EmailError, match=r"refused the login \(535\)") as caught:
        EmailAction().run(
            login_settings(sink, certificate, retry_delay=0), make_context(make_run())
        )
    # One login: smtplib tries each mechanism the server offers (LOGIN, PLAIN) once.
    assert sink.auth_attempts == 2
    assert "wrong-password" not in str(caught.value)


def test_missing_password_variable_names_it(smtp_sink, monkeypatch):
    sink = smtp_sink()
    monkeypatch.setenv("SMTP_USER", "mailer")
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    with pytest.raises(EmailError, match=r"environment variable SMTP_PASSWORD .* is not set"):
        EmailAction().run(
            settings(sink, user_env="SMTP_USER", password_env="SMTP_PASSWORD"),
            make_context(make_run()),
        )


def test_temporary_failure_is_retried(smtp_sink):
    sink = smtp_sink()
    sink.temporary_failures = 2
    EmailAction().run(settings(sink, retry_delay=0), make_context(make_run(make_job("a"))))
    assert len(sink.messages) == 1


def test_server_down_fails_after_retries_with_server_and_fix():
    from plugin_servers import free_port

    port = free_port()  # nothing listens there
    action_settings = EmailSettings.model_validate(
        {"to": ["crm@example.com"], "host": "127.0.0.1", "port": port, "retries": 2,
         "retry_delay": 0}
    )  # fmt: skip
    with pytest.raises(EmailError) as caught:
        EmailAction().run(action_settings, make_context(make_run()))
    message = str(caught.value)
    assert f"cannot reach SMTP server 127.0.0.1:{port} after 3 attempts (" in message
    assert message.endswith("check host and port in the email action and that the server is up")


def test_secrets_in_job_errors_are_masked_in_the_mail(smtp_sink):
    sink = smtp_sink()
    url = "https://s3.amazonaws.com/sailthru/export/2026/11/27/d699e4bd562eec65a1e0c2f47b111111"
    register_url(url)
    job = make_job("export-main", JobStatus.FAILED, error=f"download of {url} failed: 403")
    EmailAction().run(settings(sink), make_context(make_run(job)))
    text, html = parts(sink.messages[0])
    assert "d699e4bd" not in text and "d699e4bd" not in html
    assert "download of *** failed: 403" in text


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"password": "hunter22"}, "password", "never put credentials in a manifest"),
        ({"password_env": "$SMTP_PASSWORD", "user_env": "U"}, "password_env", "variable's name"),
        ({"password_env": "SMTP_PASSWORD"}, "", "password_env needs user_env"),
        ({"subject": "{manifest} {bogus}"}, "subject", "unknown placeholder {bogus}"),
        ({"to": []}, "to", "at least 1 item"),
        ({"to": "not-an-address"}, "to", "is not an email address"),
        ({"security": "tls"}, "security", "'none', 'starttls' or 'ssl'"),
        ({"ca_file": "ca.pem"}, "", "ca_file only applies"),
        ({"smtp_host": "x"}, "smtp_host", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_fail_validation_at_their_key(data, where, message):
    with pytest.raises(ValidationError) as caught:
        EmailSettings.model_validate({"to": ["a@example.com"], **data})
    [error] = caught.value.errors()
    assert ".".join(str(part) for part in error["loc"][:1]) == where
    assert message in error["msg"]
