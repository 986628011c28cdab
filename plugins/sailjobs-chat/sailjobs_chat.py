"""sailjobs-chat: the ``chat`` action, a run status posted to Slack, Microsoft Teams or any
JSON webhook, one line per job.

In a manifest::

    notify:
      on_failure:
        - chat: {kind: slack, webhook: "${{ env.SLACK_WEBHOOK }}"}

``kind: slack`` posts Block Kit to an incoming webhook, ``kind: teams`` an Adaptive Card
(Teams workflows / incoming webhooks), ``kind: webhook`` a plain JSON document with the
run's facts. The webhook URL is a credential: it is registered with the masking helper as
soon as it is known and never shown (errors name only its host). A 429 is retried after
its ``Retry-After``, a 5xx or a network error with backoff (``retries`` after the first try,
``retry_delay`` doubled each time: ``runner.retries.RetryConfig``, through tenacity); the
executor does not retry on top of that (``attempts = 1``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from runner.actions import (
    ActionContext,
    ActionSettings,
    ActionType,
    DryRunContext,
    SettingProblem,
)
from runner.durations import format_seconds
from runner.hookspecs import hookimpl
from runner.masking import mask, mask_data, redact_url, register_secret
from runner.placeholders import check_placeholders, fill_placeholders
from runner.results import JobResult, JobStatus
from runner.retries import RetryConfig

if TYPE_CHECKING:
    import requests
    from tenacity import RetryCallState

__version__ = "0.1.0"

TITLE_FIELDS = ("manifest", "run_id", "status", "job", "total", "succeeded", "failed")
STATUS_ICONS = {
    JobStatus.SUCCEEDED: "✅",
    JobStatus.FAILED: "❌",
    JobStatus.TIMED_OUT: "⏱️",
    JobStatus.SKIPPED: "⏭️",
}
# Slack: a section's text holds at most 3000 characters, a message at most 50 blocks.
SLACK_SECTION_LIMIT = 3000
SLACK_MAX_SECTIONS = 45
MAX_ERROR_CHARS = 300


def webhook_problem(url: str) -> str | None:
    """Why ``url`` cannot be the webhook (empty, or no http(s) URL), or None."""
    if not url.strip():
        return (
            "webhook is empty (its environment variable is set to nothing?); set it to the "
            'webhook URL: webhook: "${{ env.SLACK_WEBHOOK }}"'
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return (
            "webhook must be an http(s) URL; keep it out of the manifest: "
            'webhook: "${{ env.SLACK_WEBHOOK }}"'
        )
    return None


class ChatSettings(ActionSettings):
    """Settings of the ``chat`` action (strict: an unknown key is an error with its line)."""

    kind: Literal["slack", "teams", "webhook"] = Field(
        default="slack",
        description="slack: Block Kit; teams: an Adaptive Card; webhook: plain JSON.",
    )
    webhook: str = Field(
        repr=False,  # a credential: never in a repr
        description='The webhook URL, a secret: "${{ env.SLACK_WEBHOOK }}".',
    )
    title: str = Field(
        default="{manifest}: {status}",
        description="Placeholders: {manifest} {run_id} {status} {job} {total} {succeeded} {failed}.",
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for the server")
    retries: int = Field(default=3, ge=0, le=10, description="tries after the first one")
    retry_delay: float = Field(
        default=1.0, ge=0, description="seconds before the first retry; doubles each retry"
    )
    max_retry_after: float = Field(
        default=60.0, ge=0, description="the longest Retry-After (seconds) waited for"
    )

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        if "${{" in value:  # resolved just before the action runs
            return value
        register_secret(value)  # a literal URL in a manifest is masked from now on
        if (why := webhook_problem(value)) is not None:
            raise ValueError(why)
        return value

    @field_validator("title")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_placeholders(value, TITLE_FIELDS, "title")


class ChatError(Exception):
    """The message could not be posted; says which service (never the URL) and what to do."""

    transient = False  # already retried in ``post``: the executor must not retry again


# ---------------------------------------------------------------------------------------
# What the message says


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _slack_text(text: str) -> str:
    """Server text as Slack shows it, never obeys it: ``<!channel>`` is no mention and
    ``<http://x|here>`` no link (Slack's own escaping of &, < and >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_context(sentence: str) -> str:
    """The context line: the summary sentence, escaped (it names notify errors, server
    text) and cut to fit Slack's text limit, never mid-entity (``&amp;``)."""
    tail = " · sailjobs"
    text = _slack_text(sentence)
    room = SLACK_SECTION_LIMIT - len(tail)
    if len(text) > room:
        text = re.sub(r"&[a-z]*$", "", text[: room - 1]) + "…"
    return text + tail


def job_line(job: JobResult, markdown: bool = True) -> str:
    """One line per job: icon, id, type, status, duration, rows, and why it failed
    (``markdown``: Slack's mrkdwn, where the error texts are escaped)."""
    shown = _slack_text if markdown else str
    name = f"*{job.id}*" if markdown else job.id
    details = [job.job_type, str(job.status)]
    if duration := format_seconds(job.duration_seconds):
        details.append(duration)
    if (rows := job.rows) is not None:
        details.append(f"{rows:,} rows")
    if job.attempts > 1:
        details.append(f"submitted {job.attempts} times")
    line = f"{STATUS_ICONS.get(job.status, '•')} {name} ({', '.join(details)})"
    problems = job.problems()  # each failure once: the job's error, then other actions'
    if problems:
        line += ": " + "; ".join(shown(_short(problem)) for problem in problems)
    return line


def _title(settings: ChatSettings, ctx: ActionContext) -> str:
    return fill_placeholders(settings.title, ctx.summary_fields())


def slack_payload(settings: ChatSettings, ctx: ActionContext) -> dict[str, Any]:
    """Block Kit: a header, the job lines in sections of at most 3000 characters, a context."""
    title = _title(settings, ctx)
    lines = [job_line(job) for job in ctx.jobs] or ["No jobs ran."]
    sections: list[str] = []
    for line in lines:
        line = line[:SLACK_SECTION_LIMIT]
        if sections and len(sections[-1]) + 1 + len(line) <= SLACK_SECTION_LIMIT:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    if len(sections) > SLACK_MAX_SECTIONS:
        hidden = len(sections) - SLACK_MAX_SECTIONS
        sections = [*sections[:SLACK_MAX_SECTIONS], f"… and {hidden} more sections of jobs"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}}
    ]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections]
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": _slack_context(ctx.summary_sentence())}],
        }
    )
    return {"text": title, "blocks": blocks}


def teams_payload(settings: ChatSettings, ctx: ActionContext) -> dict[str, Any]:
    """An Adaptive Card in the message envelope Teams webhooks and workflows accept."""
    status = ctx.status_word
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Medium",
            "weight": "Bolder",
            "wrap": True,
            "color": "Good" if status == "succeeded" else "Attention",
            "text": _title(settings, ctx),
        }
    ]
    body += [
        {"type": "TextBlock", "wrap": True, "spacing": "Small", "text": job_line(job, False)}
        for job in ctx.jobs
    ] or [{"type": "TextBlock", "text": "No jobs ran."}]
    body.append(
        {"type": "TextBlock", "isSubtle": True, "size": "Small", "text": ctx.summary_sentence()}
    )
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def webhook_payload(settings: ChatSettings, ctx: ActionContext) -> dict[str, Any]:
    """A plain JSON document: the run's facts, one entry and one text line per job."""
    run = ctx.run
    return {
        "title": _title(settings, ctx),
        "summary": ctx.summary_sentence(),
        "status": ctx.status_word,
        "run_id": run.run_id,
        "manifest": run.manifest_name,
        "job": ctx.job.id if ctx.job is not None else None,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "jobs": [
            {
                "id": job.id,
                "job_type": job.job_type,
                "status": str(job.status),
                "remote_job_id": job.remote_job_id,
                "duration_seconds": job.duration_seconds,
                "rows": job.rows,
                "error": job.error,
            }
            for job in ctx.jobs
        ],
        "lines": [job_line(job, False) for job in ctx.jobs],
    }


PAYLOADS: dict[str, Callable[[ChatSettings, ActionContext], dict[str, Any]]] = {
    "slack": slack_payload,
    "teams": teams_payload,
    "webhook": webhook_payload,
}


# ---------------------------------------------------------------------------------------
# Posting


def _retry_after(response: requests.Response, fallback: float, cap: float) -> float:
    """Seconds to wait as the server asked (delta-seconds or an HTTP date), capped."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return min(fallback, cap)
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return min(fallback, cap)
    return min(max(seconds, 0.0), cap)


def _wait(seconds: float) -> None:
    time.sleep(seconds)


class _Transient(Exception):
    """One failed post worth another try; ``retry_after``: the server said when."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


def post(settings: ChatSettings, payload: dict[str, Any]) -> int:
    """POST ``payload``; retry 429 (after Retry-After), 5xx and network errors; return attempts."""
    import requests  # here, not at the top: loading the plugin stays fast

    register_secret(settings.webhook)
    where = f"{settings.kind} webhook {redact_url(settings.webhook)}"
    policy = RetryConfig.doubling(settings.retries, settings.retry_delay)
    backoff = policy.backoff()
    attempts = 0

    def once(session: requests.Session) -> None:
        nonlocal attempts
        attempts += 1
        try:
            response = session.post(settings.webhook, json=payload, timeout=settings.timeout)
        except requests.RequestException as exc:
            raise _Transient(f"cannot reach it ({type(exc).__name__})") from exc
        if response.status_code < 300:
            return
        body = _short(response.text)[:200]
        problem = f"answered {response.status_code} {body}".rstrip()
        if response.status_code == 429:
            fallback = policy.cap(attempts)
            raise _Transient(problem, _retry_after(response, fallback, settings.max_retry_after))
        if response.status_code < 500:
            raise ChatError(
                mask(
                    f"chat: {where} {problem}; check the webhook URL and that the "
                    f"app is still installed (not retried)"
                )
            )
        raise _Transient(problem)

    def wait(state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Transient) and failure.retry_after is not None:
            return failure.retry_after
        return float(backoff(state))

    retrying = policy.retrying(
        retry_on=lambda exc: isinstance(exc, _Transient),
        wait=wait,
        sleep=lambda seconds: _wait(seconds),  # looked up at each call: tests replace it
    )
    with requests.Session() as session:
        try:
            retrying(once, session)
        except _Transient as failed:
            raise ChatError(
                mask(
                    f"chat: {where} {failed.problem} after {attempts} attempt(s); the message "
                    "was not posted: check the service's status and the webhook URL, then "
                    "resume the run"
                )
            ) from None
    return attempts


class ChatAction(ActionType):
    """Post the run's (or a job's) status to a chat webhook."""

    name: ClassVar[str] = "chat"
    settings_model: ClassVar[type[ActionSettings]] = ChatSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"kind", "attempts"})
    attempts: ClassVar[int] = 1  # retries happen in ``post``, which knows about Retry-After

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        """The webhook URL present and http(s) once resolved (nothing is posted: a test
        message would land in the channel)."""
        if "${{" not in settings.webhook and (why := webhook_problem(settings.webhook)):
            yield SettingProblem("webhook", why)

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        register_secret(settings.webhook)
        payload = mask_data(PAYLOADS[settings.kind](settings, ctx))
        attempts = post(settings, payload)
        ctx.logger.info("chat: posted to %s webhook (%d attempt(s))", settings.kind, attempts)
        return {"kind": settings.kind, "attempts": attempts}


@hookimpl
def sailjobs_action_types() -> list[ActionType]:
    return [ChatAction()]
