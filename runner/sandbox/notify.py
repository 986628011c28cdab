"""Job-completion notices: the signed postback and the report email (SMTP or outbox)."""

from __future__ import annotations

import logging
import smtplib
import threading
from email.message import EmailMessage
from typing import Any

import requests

from runner.masking import redact_url
from runner.sailthru.contract import IMPORT_WARNING_FIELD
from runner.sailthru.signature import sign

log = logging.getLogger("runner.sandbox")
POSTBACK_TIMEOUT = 10.0
REPORT_SENDER = "Sailthru Sandbox <jobs@sandbox.invalid>"


def form_value(value: Any) -> str:
    """A GET field as a form value: booleans as ``true``/``false``, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def postback_form(fields: dict[str, Any], api_key: str, secret: str) -> dict[str, str]:
    """The job's fields plus ``api_key`` and ``sig`` (signed over every other posted value)."""
    form = {key: form_value(value) for key, value in fields.items()}
    form["api_key"] = api_key
    form["sig"] = sign(secret, form)
    return form


def send_postback(url: str, fields: dict[str, Any], api_key: str, secret: str) -> bool:
    """POST the notice; a receiver that fails is logged, never retried (as the API does)."""
    try:
        response = requests.post(
            url, data=postback_form(fields, api_key, secret), timeout=POSTBACK_TIMEOUT
        )
        response.close()
    except requests.RequestException as error:
        log.warning("postback to %s failed: %s", redact_url(url), type(error).__name__)
        return False
    return response.ok


def report_message(to: str, fields: dict[str, Any]) -> EmailMessage:
    """The report email: the job's fields, an import of nobody said first (subject included)."""
    message = EmailMessage()
    message["From"] = REPORT_SENDER
    message["To"] = to
    warning = fields.get(IMPORT_WARNING_FIELD)
    subject = f"Job {fields.get('status', '')}: {fields.get('name', '')}"
    if warning:
        subject += " (no addresses imported)"
    # One line: a list name may hold line breaks, which a header cannot.
    message["Subject"] = " ".join(subject.split())
    lines = [f"{warning}", ""] if warning else []
    lines += [f"{key}: {value}" for key, value in fields.items() if key != "export_url"]
    if "export_url" in fields:
        lines.append("export_url: (see the job's GET; the link expires)")
    message.set_content("\n".join(lines) + "\n")
    return message


class Mailer:
    """Sends report emails through SMTP when configured, else keeps them in ``outbox``."""

    def __init__(self, smtp: tuple[str, int] | None) -> None:
        self.smtp = smtp
        self._outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    @property
    def outbox(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._outbox)

    def send(self, message: EmailMessage) -> None:
        if self.smtp is None:
            with self._lock:
                self._outbox.append(message)
            return
        host, port = self.smtp
        try:
            with smtplib.SMTP(host, port, timeout=10) as connection:
                connection.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("report email via %s:%s failed: %s", host, port, error)
