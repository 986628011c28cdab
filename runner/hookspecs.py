"""Every hook of sailjobs, in one file (datasette's and pytest's habit).

A plugin is any module or object with functions named like these and marked with
``runner.hookimpl``. Built-ins in ``runner/builtin/`` and the first-party plugins in
``plugins/`` implement them exactly as an in-house plugin does. Names start with
``sailjobs_``; each hook gets one context/result object so it can grow new fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from runner.actions import ActionType
    from runner.jobtypes import JobType
    from runner.results import JobResult, JobSubmitted, RunResult
    from runner.sandbox.kinds import JobKind

PROJECT = "sailjobs"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def sailjobs_job_types() -> list[JobType]:
    """Return the Sailthru job types this plugin adds.

    Called once, when the manifest models are built (by ``validate``, ``plan``, ``run``
    and ``schema``). Return a list of ``JobType`` instances; their ``name`` is the API's
    ``job`` value and must be unique across plugins (a clash is an error at start-up).
    Must not raise.
    """


@hookspec
def sailjobs_sandbox_job_kinds() -> list[JobKind]:
    """Return how the sandbox runs the job types this plugin adds: one ``JobKind``
    (``runner.sandbox.kinds``) per type, its ``job`` the type's ``name``.

    Called when a sandbox starts (``sailjobs sandbox``, ``run --sandbox``, the test
    fixtures), never otherwise, so the command line does not load the sandbox. A job type
    without a kind validates and runs against Sailthru, but not on the sandbox. Names must
    be unique across plugins. Must not raise.
    """


@hookspec
def sailjobs_action_types() -> list[ActionType]:
    """Return the action types this plugin adds (``download``, ``email``, ``s3``, …).

    Called once, when the manifest models are built. Return a list of ``ActionType``
    instances; each brings a pydantic model of its settings, validated with the rest of
    the manifest. Names must be unique across plugins. Must not raise.
    """


@hookspec
def sailjobs_run_started(run: RunResult) -> None:
    """Called once, after the manifest is planned and before the first job is submitted.

    ``run.jobs`` holds every planned job, none finished in this process yet (``waiting``, or
    as a resumed run restored it). May raise: the error is reported with the plugin's name
    and the run goes on.
    """


@hookspec
def sailjobs_job_submitted(event: JobSubmitted) -> None:
    """Called when the API accepted a job and returned its ``job_id``.

    Also called, with ``event.resumed`` true, when a resumed run picks up a job_id from
    the run state instead of submitting again. May raise: the error is reported with the
    plugin's name and the job goes on.
    """


@hookspec
def sailjobs_job_finished(result: JobResult) -> None:
    """Called exactly once per job of the run, whatever its outcome.

    Succeeded, failed, timed out or skipped (``result.status``), after the job's own
    actions ran (``result.actions``). Called from a ``finally``: an exception in the
    executor still reaches here. May raise: the error is reported with the plugin's name
    and the job, and the other plugins' implementations still run. When a run is
    interrupted, the jobs still in flight get theirs in the process that resumes the run.
    """


@hookspec
def sailjobs_run_finished(result: RunResult) -> None:
    """Called once at the end of a run, after every ``sailjobs_job_finished`` and after
    the manifest's ``notify`` actions (``result.actions``).

    Also called for an interrupted run (``result.interrupted``). Reports are written
    here. May raise: the error is reported with the plugin's name; the others still run.
    """


@hookspec
def sailjobs_register_commands(cli: click.Group) -> None:
    """Add commands to the ``sailjobs`` command line.

    Called once when the CLI starts. Use ``@cli.command()`` or ``cli.add_command``;
    keep imports inside the command so ``sailjobs --help`` stays fast. Must not raise.
    """
