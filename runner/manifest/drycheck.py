"""The dry run: everything knowable before a job is sent, checked by ``sailjobs plan`` and by
``sailjobs run`` before its first POST, each problem at its line of the manifest.

- each job's parameters once ``vars``, ``env`` and ``run`` are resolved, against the job
  type's model and its ``check`` (``validate`` skips what holds ``${{ }}``);
- the files the jobs upload (pre-flight), at their resolved paths;
- every action's settings once resolved, and the action type's own ``check``
  (``ActionType.check``: a ``download`` target in the way, S3 credentials and bucket, an
  SMTP login, a webhook URL), network checks only when allowed (``plan --offline``);
- the API credentials: one signed call that sends no job (``check_api_credentials``).

Values that read a job's outputs are only known during the run: they are checked then
(``runner.executor.prepare``), as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runner.actions import DryRunContext
from runner.jobtypes import CheckContext
from runner.manifest.conditions import decide
from runner.manifest.expressions import ExpressionError, has_expression
from runner.manifest.resolved import resolve_known, resolved_model_problems
from runner.manifest.yamlsource import format_path
from runner.masking import mask
from runner.plugins import job_type_failure
from runner.preflight.jobfiles import check_manifest_files
from runner.problems import Problem
from runner.retries import RetryConfig
from runner.sailthru.errors import ClientError

if TYPE_CHECKING:
    from runner.manifest.expressions import EvalContext
    from runner.manifest.loaded import LoadedManifest
    from runner.manifest.models import ActionSpec
    from runner.manifest.planner import Plan, PlannedJob
    from runner.sailthru.client import SailthruClient

# The API's answers to credentials it refuses: an unknown key, a call from an address the
# account does not allow, a signature that does not match the secret.
_REFUSED_CODES = (3, 4, 5)
# The credential check is one call: a second try for a blip, not a run's patience.
_CREDENTIAL_RETRY = RetryConfig(attempts=2, initial=0.5, max=1.0)


def dry_run_problems(
    plan: Plan,
    eval_context: EvalContext,
    *,
    env: Mapping[str, str],
    network: bool = True,
    continuing: bool = False,
    done: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Every problem of the plan's jobs and of the manifest's ``notify`` that is knowable now
    (warnings included: ``Problem.is_error`` tells them apart).

    Jobs their ``if:`` skips (and the jobs that need them) and actions their ``if:`` skips
    are not checked: they will not run. Nor are the jobs in ``done`` (a resumed or retried
    run's succeeded jobs, which are not sent again)."""
    loaded = plan.loaded
    # The run's id is known only once it starts (a plan shows a placeholder): what reads it
    # is checked then, like what reads a job's outputs.
    eval_context = replace(
        eval_context, run={key: value for key, value in eval_context.run.items() if key != "id"}
    )
    context = DryRunContext(
        workdir=loaded.directory, env=env, network=network, continuing=continuing
    )
    problems: list[Problem] = []
    resolved_params: dict[str, dict[str, Any]] = {}
    written: dict[str, tuple[str | int, ...]] = {}  # a file actions write → the first one
    skipped: set[str] = set()
    for job_id, planned in plan.jobs.items():  # in order: a job's needs come before it
        if planned.needs & skipped or _decided_false(planned.spec.condition, eval_context):
            skipped.add(job_id)
            continue
        if job_id in done:
            continue
        params = dict(planned.spec.params)
        resolved = resolve_known(params, eval_context)
        found = _param_problems(loaded, planned, params, resolved)
        if not any(problem.is_error for problem in found):  # else its file may be missing
            resolved_params[job_id] = {**params, **resolved}
        problems += found
        problems += _action_problems(
            loaded, planned.spec.actions.all(), eval_context, context, written
        )
    problems += _action_problems(
        loaded, loaded.manifest.notify.all(), eval_context, context, written
    )
    problems += check_manifest_files(loaded, params=resolved_params, failure=job_type_failure)
    return sorted(problems)


def _decided_false(condition: str | bool | None, eval_context: EvalContext) -> bool:
    """An ``if:`` known now to be false (one that reads a job's outputs is not known)."""
    try:
        return decide(condition, eval_context, strict=False) is False
    except ExpressionError:  # an env variable not set: the run fails the job, saying so
        return False


def _param_problems(
    loaded: LoadedManifest,
    planned: PlannedJob,
    params: dict[str, Any],
    resolved: dict[str, Any],
) -> list[Problem]:
    """The job type's model and checks with the parameters resolved: only what they find
    beyond what they found as written (shown when the manifest loaded)."""
    if not resolved:
        return []
    base = ("jobs", planned.id)
    problems = [
        loaded.source.problem((*base, *where), _with_values(message, resolved), key=key)
        for where, message, key in resolved_model_problems(
            planned.job_type.params_model, params, resolved
        )
    ]
    if problems:  # the checks below expect valid parameters
        return problems
    context = CheckContext(manifest_dir=loaded.directory, split=planned.spec.split)
    as_written = {(p.path, p.message) for p in planned.job_type.check(params, context)}
    for found in planned.job_type.check({**params, **resolved}, context):
        if (found.path, found.message) in as_written:
            continue
        at = loaded.source.problem((*base, *found.path), _with_values(found.message, resolved))
        problems.append(replace(at, severity=found.severity))
    return problems


def _with_values(message: str, resolved: Mapping[str, Any]) -> str:
    """``message (resolved: start_date=20261023, end_date=20261202)``: what was checked."""
    shown = ", ".join(f"{key}={value}" for key, value in resolved.items())
    return mask(f"{message} (resolved: {shown})")


def _action_problems(
    loaded: LoadedManifest,
    actions: Iterable[tuple[str, ActionSpec]],
    eval_context: EvalContext,
    context: DryRunContext,
    written: dict[str, tuple[str | int, ...]],
) -> list[Problem]:
    problems: list[Problem] = []
    for _, action in actions:
        action_type = loaded.action_types.get(action.name)
        if action_type is None or _decided_false(action.condition, eval_context):
            continue
        model = action_type.settings_model
        resolved = resolve_known(action.settings, eval_context)
        model.register_credentials(resolved)  # before a message can quote one
        found = [
            loaded.source.problem(
                (*action.path, *where), mask(f"once resolved: {message}"), key=key
            )
            for where, message, key in resolved_model_problems(model, action.settings, resolved)
        ]
        problems += found
        if found:
            continue
        try:
            settings = model.model_validate({**action.settings, **resolved})
        except ValueError:  # only a job's outputs can make it valid: checked when they exist
            continue
        if (same := _same_file(loaded, action, resolved, written)) is not None:
            problems.append(same)
        for problem in action_type.check(settings, context):
            key = problem.key
            where = (
                (*action.path, key) if key is not None and key in action.settings else action.path
            )
            problems.append(loaded.source.problem(where, mask(problem.message)))
    return problems


def _same_file(
    loaded: LoadedManifest,
    action: ActionSpec,
    resolved: Mapping[str, Any],
    written: dict[str, tuple[str | int, ...]],
) -> Problem | None:
    """A second action writing the file an earlier one writes (its ``path`` output, known
    now): the second would replace the first's file, e.g. for_each instances that forgot
    ``${{ each.value }}`` in their download path."""
    action_type = loaded.action_types[action.name]
    path = {**action.settings, **resolved}.get("path")
    if "path" not in action_type.outputs or not isinstance(path, str) or has_expression(path):
        return None
    if path.endswith(("/", os.sep)) or (loaded.directory / path).is_dir():
        return None  # a folder: the server names each file in it
    target = str((loaded.directory / path).resolve())
    first = written.setdefault(target, action.path)
    if first == action.path:
        return None
    return loaded.source.problem(
        (*action.path, "path"),
        f"{path} is also written by {format_path(first)} (line {loaded.position(first)[0]}): "
        "one file would replace the other; give each its own path (a for_each job: put "
        "${{ each.value }} in it)",
    )


@dataclass(frozen=True)
class CredentialCheck:
    """What the credential check found: ``refused`` (the API said no: the key, the secret,
    this machine's address), or the call failed otherwise (unreachable, a server error)."""

    message: str
    refused: bool


def check_api_credentials(client: SailthruClient, *, names: str = "") -> CredentialCheck | None:
    """One signed call that sends no job (GET /settings); None when the API accepts the
    credentials, else one line saying what it answered and what to check (``names``: where
    the key and secret came from, when not SAILTHRU_API_KEY and SAILTHRU_API_SECRET)."""
    parts = urlsplit(client.base_url)
    where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    try:
        client.with_retry(_CREDENTIAL_RETRY).call("GET", "settings", {})
    except ClientError as exc:
        code = getattr(exc, "code", None)
        status = getattr(exc, "http_status", None)
        if code in _REFUSED_CODES or status in (401, 403):
            fix = f"; check {names}" if names else ""
            message = (
                f"the Sailthru API at {where} refused the credentials (GET /settings, which "
                f"sends no job): {exc}{fix}; nothing was sent"
            )
            return CredentialCheck(mask(message), refused=True)
        message = f"cannot check the Sailthru credentials at {where} (GET /settings): {exc}"
        return CredentialCheck(mask(message), refused=False)
    return None
