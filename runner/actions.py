"""What an action is: a named, validated piece of work run when a job (or the run) ends.

Actions are always plugins: the built-in ``download`` and the first-party ``email``,
``chat`` and ``s3`` are registered through ``sailjobs_action_types`` exactly like an
in-house one. In a manifest an action is one item of ``on_success``, ``on_failure`` or
``always`` (on a job) or of ``notify`` (on the run): ``- <name>: {settings}``.

A job's export reaches its actions in one of two forms: ``export_url`` (the job's
outputs), a link on Sailthru's export server to fetch with ``ctx.client.download_export``;
or ``export_path`` (``ActionContext.export_path``), a complete file already on this
machine, e.g. the joined CSV of a ``split: true`` job, which has no ``export_url``. An
action that reads the export uses the local file when there is one.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from runner.masking import register_secret
from runner.placeholders import is_expression
from runner.results import JobResult, JobStatus, RunResult, counts_text
from runner.retries import RetryConfig

if TYPE_CHECKING:
    from runner.sailthru.client import SailthruClient

# The output naming a job's export when it is a local file (see the module docstring).
EXPORT_PATH_OUTPUT = "export_path"


class ActionSettings(BaseModel):
    """Base of every action's settings model: strict about unknown keys.

    ``continue_on_error`` and ``if`` are common to all actions and handled by the executor,
    never by the action itself; retries follow the job's ``retry`` (``ActionContext.retry``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    continue_on_error: bool = Field(
        default=False, description="a failure of this action does not fail its job"
    )
    if_: str | bool | None = Field(
        default=None,
        alias="if",
        description="run the action only when this expression is true (e.g. vars.env == 'prod')",
    )

    @classmethod
    def credential_fields(cls) -> frozenset[str]:
        """Settings that hold a credential (declared ``Field(repr=False)``, as the chat
        webhook is): masked wherever their value is shown, ``plan`` included."""
        return frozenset(name for name, info in cls.model_fields.items() if not info.repr)

    @classmethod
    def register_credentials(cls, rendered: Mapping[str, Any]) -> None:
        """Register the credential settings of ``rendered`` (expressions filled in) with the
        masking helper, whatever the name of the env variable they came from."""
        for name in cls.credential_fields() & rendered.keys():
            if isinstance(value := rendered[name], str) and not is_expression(value):
                register_secret(value)


# A report's opening sentence names each failed notify's error: one line of at most this
# (a mail server's answer can be pages long; chat services cap their texts).
SENTENCE_ERROR_CHARS = 300


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SENTENCE_ERROR_CHARS else text[: SENTENCE_ERROR_CHARS - 1] + "…"


@dataclass
class ActionContext:
    """What an action gets when it runs."""

    run: RunResult  # the run so far (complete for ``notify`` actions)
    job: JobResult | None  # the job this action belongs to; None for ``notify`` actions
    workdir: Path  # the manifest's folder: relative paths in settings resolve here
    # Scratch space on this machine that survives a crash: the state folder, or .sailjobs
    # beside a state database.
    state_dir: Path
    client: SailthruClient | None  # the run's API client (the sandbox's under --sandbox)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("sailjobs.action"))
    # The job's ``retry`` (the run's ``defaults.retry`` for ``notify``); ``client`` uses it too.
    retry: RetryConfig = field(default_factory=RetryConfig)

    @property
    def export_path(self) -> Path | None:
        """The job's export as a complete local file (the ``export_path`` output), or None.

        Set when the export was made on this machine rather than served by Sailthru (a
        ``split: true`` job's joined CSV, in the run state folder: read or copy it, never
        move or change it). When None, the export, if any, is at ``job.outputs["export_url"]``.
        """
        if self.job is None:
            return None
        value = self.job.outputs.get(EXPORT_PATH_OUTPUT)
        return Path(value) if isinstance(value, str) and value else None

    @property
    def jobs(self) -> list[JobResult]:
        """What a summary covers: this action's job, or every job of the run (``notify``)."""
        return [self.job] if self.job is not None else list(self.run.jobs.values())

    @property
    def status_word(self) -> str:
        """One word for a summary: the job's status (job action) or the run's (``notify``)."""
        return str(self.job.status) if self.job is not None else self.run.status_word

    def summary_sentence(self) -> str:
        """The one sentence a report opens with, in agreement with the run's own summary:
        whose, the status, the jobs per status, and the notify actions that already failed
        (a notify action that runs after a failed one must not report a clean run)."""
        head = counts_text(job.status.value for job in self.jobs)
        run = self.run
        whose = f"Run {run.run_id} of {run.manifest_name}"
        if self.job is not None:
            whose = f"Job {self.job.id} of run {run.run_id} ({run.manifest_name})"
        sentence = f"{whose}: {self.status_word} ({head})"
        if self.job is None:
            failed = [a for a in run.actions if not a.succeeded and a.error]
            sentence += "".join(
                f"; notify action {a.name} failed: {_one_line(a.error or '')}" for a in failed
            )
        return sentence

    def summary_fields(self) -> dict[str, str]:
        """What a summary's title can name (``{manifest}: {status}``): the run, the job
        (empty for ``notify``), how many jobs it covers and how many of them succeeded."""
        jobs = self.jobs
        succeeded = sum(job.status is JobStatus.SUCCEEDED for job in jobs)
        # Failed as the run's summary and JUnit count them: a skipped job did not fail.
        failed = sum(job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT) for job in jobs)
        return {
            "manifest": self.run.manifest_name,
            "run_id": self.run.run_id,
            "status": self.status_word,
            "job": self.job.id if self.job is not None else "",
            "total": str(len(jobs)),
            "succeeded": str(succeeded),
            "failed": str(failed),
            "date": self.run.run_date.isoformat(),
        }


@dataclass(frozen=True)
class DryRunContext:
    """What an action's ``check`` may look at before the run (``sailjobs plan``, and
    ``sailjobs run`` before its first POST)."""

    workdir: Path  # the manifest's folder: relative paths in settings resolve here
    env: Mapping[str, str]  # the environment the run will read (credentials' variables)
    # False with ``plan --offline``: only local checks, nothing reached over the network.
    network: bool = True
    # The run continues an earlier one (resume, --retry-failed): files the earlier part of
    # the run wrote are already there, and are its own.
    continuing: bool = False


@dataclass(frozen=True)
class SettingProblem:
    """A check before the run that failed: ``key`` names the setting it is about (its line
    in the manifest), None the action as a whole."""

    key: str | None
    message: str


class ActionType(ABC):
    """Subclass this, set the class attributes, implement ``run`` (and ``check``).

    ``run`` gets the settings with every ``${{ }}`` already resolved and validated by
    ``settings_model``; it returns its outputs (merged into the job's outputs, so later
    expressions can read them) and raises to fail. It must be safe to call again after a
    crash in the middle of it: the executor retries it and records it as done only once it
    returns.
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[ActionSettings]] = ActionSettings
    outputs: ClassVar[frozenset[str]] = frozenset()
    # Whether the action only makes sense after a job with an export (``download``).
    needs_export: ClassVar[bool] = False
    # Tries in all when ``run`` raises something transient (a network error, a 5xx); None:
    # the job's ``retry.attempts``. 1 for an action that retries by itself.
    attempts: ClassVar[int | None] = None

    @abstractmethod
    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        """Do the work; return the outputs; raise to fail (the message is shown to the user)."""

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        """What would make ``run`` fail that is knowable before the run: configuration,
        credentials, a server that refuses the login, a file in the way. ``sailjobs plan``
        reports each at its setting's line, and ``sailjobs run`` refuses to start.

        ``settings`` is the validated model with ``vars``, ``env`` and ``run`` resolved; a
        value that reads a job's outputs still holds its ``${{ }}`` text (skip it). Reach
        the network only when ``ctx.network``. Must never change anything anywhere.
        """
        return iter(())
