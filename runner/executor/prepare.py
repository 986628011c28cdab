"""A job just before submission, and the API's answers turned into outcomes.

``prepare`` resolves a job's ``${{ }}`` and checks the result as the API would (the checks
``validate`` had to skip for values only known at run time); ``preflight`` runs the file
checks a job asks for. The helpers below turn a GET /job answer into outputs and messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from runner.jobtypes import CheckContext
from runner.jsontypes import JSONDict
from runner.manifest.expressions import render
from runner.masking import mask, mask_data, register_url
from runner.plugins import job_type_failure
from runner.preflight.jobfiles import check_job_files

# The API's terminal statuses are JobInfo's; re-exported here for runner.executor.splitparts.
from runner.sailthru.jobinfo import FAILURE_STATUSES as FAILURE_STATUSES

if TYPE_CHECKING:
    from runner.executor.jobrun import JobRun
    from runner.manifest.expressions import EvalContext
    from runner.sailthru.jobinfo import JobInfo


@dataclass(frozen=True)
class Prepared:
    """A job's payload, resolved and checked, ready to be POSTed."""

    payload: JSONDict
    file: Path | None
    masked_params: JSONDict
    # Warnings about values known only now (``${{ }}``); the others were shown at load time.
    warnings: tuple[str, ...] = ()


class PrepareError(Exception):
    """The job cannot be submitted (unresolvable expression, bad value, failed pre-flight)."""


def prepare(job: JobRun, eval_context: EvalContext, manifest_dir: Path) -> Prepared:
    """Resolve a job's parameters and check them as the API would; PrepareError if not."""
    from pydantic import ValidationError

    job_type = job.planned.job_type
    try:
        params: JSONDict = render(job.spec.params, eval_context)
    except Exception as exc:  # ExpressionError and filter errors
        raise PrepareError(f"cannot resolve its parameters: {exc}") from exc
    masked: JSONDict = mask_data(params)
    try:
        job_type.params_model.model_validate(params)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PrepareError(mask(f"invalid parameters once resolved: {details}")) from exc
    context = CheckContext(manifest_dir=manifest_dir, split=job.spec.split)
    try:
        checked = list(job_type.check(params, context))
        written = list(job_type.check(dict(job.spec.params), context))
    except Exception as exc:  # a plugin's code: the job fails, the run goes on
        raise PrepareError(job_type_failure(job_type.name, "check", exc)) from exc
    problems = [problem for problem in checked if problem.severity == "error"]
    if problems:
        details = "; ".join(
            f"{'.'.join(str(p) for p in problem.path)}: {problem.message}" for problem in problems
        )
        raise PrepareError(mask(f"invalid parameters once resolved: {details}"))
    # Shown when the manifest loaded: the warnings of the parameters as written.
    shown = {
        (problem.path, problem.message) for problem in written if problem.severity == "warning"
    }
    warnings = tuple(
        mask(f"{'.'.join(str(p) for p in problem.path)}: {problem.message}")
        for problem in checked
        if problem.severity == "warning" and (problem.path, problem.message) not in shown
    )
    payload: JSONDict = {"job": job_type.name, **params}
    file = None
    # Only the ``file`` parameter travels as an upload part; other file params stay values.
    upload = payload.get("file")
    if "file" in job_type.file_params and isinstance(upload, str) and upload:
        del payload["file"]
        file = (manifest_dir / upload).resolve()
    return Prepared(payload, file, masked, warnings)


def preflight(job: JobRun, params: JSONDict, manifest_dir: Path) -> list[str]:
    """Run the file checks the manifest asks for; raises PrepareError to refuse the job."""
    mode = job.spec.preflight
    if mode == "off":
        return []
    try:
        reports = check_job_files(job.planned.job_type, params, manifest_dir)
    except Exception as exc:  # a plugin's file_checks or FileCheck: the job fails
        raise PrepareError(job_type_failure(job.planned.job_type.name, "file_checks", exc)) from exc
    bad = [report.summary() for report in reports if not report.ok]
    if bad and mode == "on":
        raise PrepareError(
            f"pre-flight check refused the file: {'; '.join(bad)} (fix the file, or set "
            "`preflight: warn` on the job to submit it anyway)"
        )
    # What the API is not documented to refuse: shown, one line per kind, never blocking.
    notes = [line for report in reports for line in report.warning_lines()]
    return [f"pre-flight: {text}" for text in [*bad, *notes]]


def seconds(value: timedelta | float | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


# Fields of a JobInfo that sailjobs itself reads back from the outputs, kept as they are:
# the typed ones (set again below) and a split job's ``parts`` (runner.executor.splitparts).
_RUNNER_READS = frozenset(
    {"job_id", "name", "status", "start_time", "end_time", "export_url", "filename", "parts"}
)


def job_outputs(info: JobInfo, known_job_id: str | None = None) -> JSONDict:
    """A finished job's outputs: every field of the API's answer (those the runner does not
    know too), then the typed ones over them (``end_time`` from ``stop_time``…). The job_id
    is the one the runner knows from its POST, whatever the answer says (it may be null).
    The fields sailjobs does not know are masked: an answer echoes the job's parameters
    (``postback_url``), which may hold a secret, and no expression can name them."""
    outputs: JSONDict = {
        name: value if name in _RUNNER_READS else mask_data(value)
        for name, value in info.fields.items()
    }
    for name in ("job_id", "name", "status", "start_time", "end_time", "export_url", "filename"):
        value = getattr(info, name)
        if value is not None and value != "":
            outputs[name] = value
    if known_job_id:
        outputs["job_id"] = known_job_id
    if isinstance(url := outputs.get("export_url"), str):
        register_url(url)
    return outputs


def remote_error_message(info: JobInfo) -> str:
    fields = info.fields
    detail = next(
        (
            str(fields[key])
            for key in ("error_message", "errormsg", "message", "status_message")
            if fields.get(key)
        ),
        None,
    )
    text = f"Sailthru reported the job {info.job_id} as {info.status!r}"
    return f"{text}: {detail}" if detail else text
