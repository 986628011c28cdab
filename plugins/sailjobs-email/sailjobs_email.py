"""sailjobs-email: the ``email`` action, a run (or job) summary sent through SMTP.

In a manifest::

    notify:
      always:
        - email:
            to: [crm@example.com]
            host: smtp.example.com
            security: starttls
            user_env: SMTP_USER          # names of environment variables, never the secrets
            password_env: SMTP_PASSWORD
            subject: "[{manifest}] {status}: {failed} of {total} jobs failed"

As a ``notify`` action it summarises the whole run; as a job action (``on_failure`` of a
job) it summarises that job. The mail has a plain-text and an HTML part: status per job,
durations, rows, failures with their messages. Transient SMTP trouble (connection refused,
a dropped connection, a 4xx answer) is retried here, with backoff (``retries`` after the first
try, ``retry_delay`` doubled each time: ``runner.retries.RetryConfig``, through tenacity); the
executor does not retry on top of that (``attempts = 1``). Before the run (``sailjobs
plan``, and ``run`` before its first POST) ``check_login`` connects and logs in, sending
nothing, so a refused login is found before the jobs run.
"""

from __future__ import annotations

import html
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from runner.actions import (
    ActionContext,
    ActionSettings,
    ActionType,
    DryRunContext,
    SettingProblem,
)
from runner.durations import format_seconds
from runner.hookspecs import hookimpl
from runner.masking import mask, register_secret
from runner.placeholders import check_placeholders, fill_placeholders
from runner.results import JobResult, JobStatus
from runner.retries import RetryConfig

__version__ = "0.1.0"

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SUBJECT_FIELDS = ("manifest", "run_id", "status", "job", "total", "succeeded", "failed", "date")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
STATUS_MARKS = {
    JobStatus.SUCCEEDED: "OK",
    JobStatus.FAILED: "FAILED",
    JobStatus.TIMED_OUT: "TIMED OUT",
    JobStatus.SKIPPED: "SKIPPED",
}


class EmailSettings(ActionSettings):
    """Settings of the ``email`` action (strict: an unknown key is an error with its line)."""

    to: list[str] = Field(min_length=1, description="Recipients: one address or a list.")
    cc: list[str] = Field(default_factory=list, description="Copy recipients.")
    bcc: list[str] = Field(default_factory=list, description="Hidden recipients.")
    sender: str = Field(default="sailjobs@localhost", alias="from", description="The sender.")
    subject: str = Field(
        default="[sailjobs] {manifest}: {status}",
        description="Placeholders: {manifest} {run_id} {status} {job} {total} {succeeded} "
        "{failed} {date}.",
    )
    host: str = Field(default="localhost", description="The SMTP server.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 25, 587 (starttls) or 465 (ssl)."
    )
    security: Literal["none", "starttls", "ssl"] = Field(
        default="none",
        description="starttls upgrades a plain connection; ssl is TLS from the start.",
    )
    user_env: str | None = Field(
        default=None, description="Name of the environment variable holding the SMTP login."
    )
    password_env: str | None = Field(
        default=None, description="Name of the environment variable holding the SMTP password."
    )
    ca_file: str | None = Field(
        default=None, description="A CA bundle, for a server with a private certificate."
    )
    timeout: float = Field(default=30.0, gt=0, description="seconds to wait for the server")
    retries: int = Field(default=3, ge=0, le=10, description="tries after the first one")
    retry_delay: float = Field(
        default=2.0, ge=0, description="seconds before the first retry; doubles each retry"
    )

    model_config = ConfigDict(populate_by_name=True)

    # Declared only to reject them with a clear message at their own line (not in the schema).
    password: SkipJsonSchema[None] = None
    user: SkipJsonSchema[None] = None

    @field_validator("password", "user", mode="before")
    @classmethod
    def _no_literal_secrets(cls, value: Any, info: ValidationInfo) -> None:
        raise ValueError(
            f"'{info.field_name}' is not allowed: never put credentials in a manifest; put the "
            f"value in an environment variable and give its name in '{info.field_name}_env'"
        )

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if "${{" not in address and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
                raise ValueError(f"{address!r} is not an email address (name@example.com)")
        return value

    @field_validator("user_env", "password_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an environment variable name; give the variable's name "
                "(e.g. SMTP_PASSWORD), not its value"
            )
        return value

    @field_validator("subject")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, SUBJECT_FIELDS, "subject")

    @model_validator(mode="after")
    def _password_needs_user(self) -> EmailSettings:
        if self.password_env and not self.user_env:
            raise ValueError("password_env needs user_env (the login's environment variable)")
        if self.ca_file and self.security == "none":
            raise ValueError("ca_file only applies with security: starttls or ssl")
        return self


class EmailError(Exception):
    """The mail could not be sent; the message says which server and what to do."""

    transient = False  # already retried in ``send``: the executor must not retry again


class PermanentSmtpError(EmailError):
    """An answer that retrying will not change (bad login, refused recipients)."""


# ---------------------------------------------------------------------------------------
# The summary


def job_problems(job: JobResult) -> list[str]:
    """The job's error and each failed action's, each once (``JobResult.problems``), and
    how many times the job was submitted when it was more than once."""
    submitted = [f"submitted {job.attempts} times"] if job.attempts > 1 else []
    return [*job.problems(), *submitted]


def render_subject(template: str, fields: dict[str, str]) -> str:
    return " ".join(fill_placeholders(template, fields).split())  # a header is one line


def render_text(ctx: ActionContext) -> str:
    run, jobs = ctx.run, ctx.jobs
    lines = [ctx.summary_sentence(), ""]
    for job in jobs:
        rows = job.rows
        rows_text = f", {rows:,} rows" if rows is not None else ""
        lines.append(
            f"{STATUS_MARKS.get(job.status, str(job.status).upper()):<9} {job.id} "
            f"({job.job_type}), {format_seconds(job.duration_seconds) or '-'}{rows_text}"
        )
        lines.extend(f"          {problem}" for problem in job_problems(job))
    if not jobs:
        lines.append("No jobs ran.")
    lines += ["", f"Manifest: {run.manifest_path}", f"Started: {run.started_at.isoformat()}"]
    return mask("\n".join(lines)) + "\n"


def render_html(ctx: ActionContext) -> str:
    run, jobs = ctx.run, ctx.jobs
    colours = {JobStatus.SUCCEEDED: "#1a7f37", JobStatus.SKIPPED: "#6e7781"}
    rows_html = []
    for job in jobs:
        rows = job.rows
        problems = "<br>".join(html.escape(p) for p in job_problems(job))
        rows_html.append(
            "<tr>"
            f"<td>{html.escape(job.id)}</td><td>{html.escape(job.job_type)}</td>"
            f'<td style="color:{colours.get(job.status, "#cf222e")};font-weight:bold">'
            f"{html.escape(str(job.status))}</td>"
            f"<td>{format_seconds(job.duration_seconds) or '-'}</td>"
            f'<td style="text-align:right">{"-" if rows is None else f"{rows:,}"}</td>'
            f"<td>{problems}</td></tr>"
        )
    title = ctx.summary_sentence()
    cell = 'style="border:1px solid #d0d7de;padding:4px 8px"'
    body = (
        (
            f"<!DOCTYPE html><html><body><h2>{html.escape(title)}</h2>"
            f'<table style="border-collapse:collapse">'
            f"<tr><th>Job</th><th>Type</th><th>Status</th><th>Duration</th><th>Rows</th>"
            f"<th>Problems</th></tr>{''.join(rows_html)}</table>"
            f"<p>Manifest: {html.escape(run.manifest_path)}<br>"
            f"Started: {html.escape(run.started_at.isoformat())}</p></body></html>"
        )
        .replace("<td>", f"<td {cell}>")
        .replace("<th>", f"<th {cell}>")
    )
    return mask(body)


def build_message(settings: EmailSettings, ctx: ActionContext) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = mask(render_subject(settings.subject, ctx.summary_fields()))
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.to)
    if settings.cc:
        message["Cc"] = ", ".join(settings.cc)
    message["Date"] = formatdate(datetime.now(UTC).timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message["X-Sailjobs-Run"] = ctx.run.run_id
    message.set_content(render_text(ctx))
    message.add_alternative(render_html(ctx), subtype="html")
    return message


# ---------------------------------------------------------------------------------------
# Sending


def _credentials(
    settings: EmailSettings, env: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    if settings.user_env is None:
        return None
    env = os.environ if env is None else env
    values = []
    for key in ("user_env", "password_env"):
        name = getattr(settings, key)
        if name is None:
            values.append("")
            continue
        value = env.get(name)
        if value is None:
            raise PermanentSmtpError(
                f"email: environment variable {name} ({key}) is not set; "
                f"export it before the run or remove {key}"
            )
        values.append(value)
    register_secret(values[1])
    return values[0], values[1]


def _tls_context(settings: EmailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file)


def _send_once(
    settings: EmailSettings,
    message: EmailMessage | None,
    port: int,
    env: Mapping[str, str] | None = None,
) -> None:
    """Connect, log in and send ``message``; with None, stop after the login (the check
    before the run: nothing is sent)."""
    credentials = _credentials(settings, env)
    smtp: smtplib.SMTP
    if settings.security == "ssl":
        smtp = smtplib.SMTP_SSL(
            settings.host, port, timeout=settings.timeout, context=_tls_context(settings)
        )
    else:
        smtp = smtplib.SMTP(settings.host, port, timeout=settings.timeout)
    with smtp:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise PermanentSmtpError(
                    f"email: SMTP server {settings.host}:{port} does not offer STARTTLS; "
                    "use security: ssl or none, or fix the server"
                )
            smtp.starttls(context=_tls_context(settings))
            smtp.ehlo()
        if credentials is not None:
            smtp.login(*credentials)
        if message is None:
            return
        recipients = [*settings.to, *settings.cc, *settings.bcc]
        smtp.send_message(message, from_addr=settings.sender, to_addrs=recipients)


def _is_permanent(exc: Exception) -> bool:
    if isinstance(exc, PermanentSmtpError | smtplib.SMTPAuthenticationError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    if isinstance(exc, ssl.SSLError):  # a bad certificate or the wrong kind of TLS
        return True
    return isinstance(exc, smtplib.SMTPNotSupportedError)


def _describe(exc: Exception, where: str) -> str:
    if isinstance(exc, PermanentSmtpError):
        return str(exc)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"email: SMTP server {where} refused the login ({exc.smtp_code}); check the user and password variables"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        return f"email: SMTP server {where} refused the recipients {refused}; fix 'to'/'cc'/'bcc'"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"email: the certificate of SMTP server {where} is not trusted ({exc.verify_message}); "
            "set ca_file to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"email: the TLS handshake with SMTP server {where} failed ({exc.reason}); check "
            "security (ssl is TLS from the start, usually port 465; starttls usually 587)"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        return f"email: SMTP server {where} answered {exc.smtp_code} {text}"
    if isinstance(exc, ConnectionRefusedError | socket.timeout | TimeoutError | socket.gaierror):
        return (
            f"email: cannot reach SMTP server {where} ({exc}); check host and port in the "
            "email action and that the server is up"
        )
    return f"email: sending through SMTP server {where} failed: {exc}"


def send(settings: EmailSettings, message: EmailMessage) -> int:
    """Send ``message``; retry transient failures; return the number of attempts made."""
    port = settings.port or DEFAULT_PORTS[settings.security]
    where = f"{settings.host}:{port}"
    attempts = 0

    def once() -> None:
        nonlocal attempts
        attempts += 1
        _send_once(settings, message, port)

    retrying = RetryConfig.doubling(settings.retries, settings.retry_delay).retrying(
        retry_on=lambda exc: (
            isinstance(exc, OSError | smtplib.SMTPException) and not _is_permanent(exc)
        ),
        sleep=lambda seconds: time.sleep(seconds),
    )
    try:
        retrying(once)
    except (OSError, smtplib.SMTPException) as error:
        # "SMTP server host:port after 3 attempts (...); check ...": the fix stays last.
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise EmailError(mask(_describe(error, where + tries))) from error
    return attempts


def _with_ca_file(settings: EmailSettings, workdir: Path) -> EmailSettings:
    """``ca_file`` relative to the manifest's folder."""
    if settings.ca_file and not os.path.isabs(settings.ca_file):
        return settings.model_copy(update={"ca_file": str(workdir / settings.ca_file)})
    return settings


# A plan waits for one answer per server, not for a run's patience.
CHECK_TIMEOUT = 10.0


def check_login(
    settings: EmailSettings, env: Mapping[str, str], network: bool
) -> Iterator[SettingProblem]:
    """The login's variables set; with ``network``, the server reachable and the login
    accepted (connect, TLS as configured, log in, quit: no mail is sent)."""
    try:
        _credentials(settings, env)
    except PermanentSmtpError as exc:
        key = "password_env" if "(password_env)" in str(exc) else "user_env"
        yield SettingProblem(key, str(exc))
        return
    if not network or "${{" in settings.host:
        return
    port = settings.port or DEFAULT_PORTS[settings.security]
    where = f"{settings.host}:{port}"
    once = settings.model_copy(update={"timeout": min(settings.timeout, CHECK_TIMEOUT)})
    try:
        _send_once(once, None, port, env)
    except (OSError, smtplib.SMTPException) as exc:
        key = "user_env" if isinstance(exc, smtplib.SMTPAuthenticationError) else "host"
        yield SettingProblem(key, mask(_describe(exc, where)))


class EmailAction(ActionType):
    """Send a run summary (``notify``) or a job summary (job action) by email."""

    name: ClassVar[str] = "email"
    settings_model: ClassVar[type[ActionSettings]] = EmailSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"message_id", "recipients"})
    attempts: ClassVar[int] = 1  # retries happen in ``send``, where transient is known

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        yield from check_login(_with_ca_file(settings, ctx.workdir), ctx.env, ctx.network)

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        settings = _with_ca_file(settings, ctx.workdir)
        message = build_message(settings, ctx)
        attempts = send(settings, message)
        recipients = len(settings.to) + len(settings.cc) + len(settings.bcc)
        ctx.logger.info(
            "email: summary sent to %d recipient(s) through %s (%d attempt(s))",
            recipients,
            settings.host,
            attempts,
        )
        return {"message_id": message["Message-ID"], "recipients": recipients}


@hookimpl
def sailjobs_action_types() -> list[ActionType]:
    return [EmailAction()]
