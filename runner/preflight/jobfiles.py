"""Which files of a job pre-flight checks: those its job type names (``JobType.file_checks``),
before ``sailjobs run`` submits it, and for ``sailjobs validate --deep`` and the dry run.

Pre-flight never decides by a job type's name: the type hands over a ``FileCheck`` per file
parameter (``runner/preflight/filecheck.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from runner.placeholders import is_expression
from runner.preflight.checks import PreflightReport
from runner.preflight.filecheck import FileCheck
from runner.preflight.scan import FileProblem
from runner.problems import Problem


class HasFileChecks(Protocol):
    """A job type, as pre-flight sees it (runner.jobtypes.JobType)."""

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]: ...


def check_job_files(
    job_type: HasFileChecks,
    params: dict[str, Any],
    manifest_dir: Path,
    *,
    max_problems: int = 10,
    workers: int | None = None,
) -> list[PreflightReport]:
    """Check every local file the job uploads; a path still holding ``${{ }}`` is skipped
    (call again with the resolved parameters). Relative paths are relative to the manifest."""
    reports = []
    for param, file_check in job_type.file_checks(params).items():
        value = params.get(param)
        if not isinstance(value, str) or not value or is_expression(value):
            continue
        report = file_check.check(
            Path(manifest_dir) / value, max_problems=max_problems, workers=workers
        )
        report.param, report.name = param, value
        reports.append(report)
    return reports


def check_manifest_files(
    loaded: Any,
    *,
    workers: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    failure: Callable[[str, str, Exception], str] = lambda name, method, exc: (
        f"job type {name!r} failed in {method}: {type(exc).__name__}: {exc}"
    ),
) -> list[Problem]:
    """For ``sailjobs validate --deep``: check the literal file paths of every job whose
        ``preflight`` is not ``off``; with ``params`` (job id → its parameters, ``${{ }}``
        resolved where known: the dry run of ``plan`` and ``run``), only those jobs, with
        those parameters. A failing file becomes Problems at its parameter: the
        summary (totals and the first problem), then each further problem of the first ten.
        With ``preflight: warn`` they are warnings: shown, but the manifest stays valid, as the
        run would report them and submit anyway. The file's own warnings (bounded: one per kind,
        with a count) are warnings in every mode but ``off``. A job type's own code that raises is
    one problem at the job, worded by ``failure`` (the caller knows the plugin)."""
    problems = []
    jobs = loaded.manifest.jobs
    for job_id in jobs if params is None else params:
        spec = jobs[job_id]
        mode = getattr(spec, "preflight", "on")
        if mode == "off":
            continue
        severity = "warning" if mode == "warn" else "error"
        values = dict(spec.params if params is None else params[job_id])
        job_type = loaded.job_types.get(spec.job)
        if job_type is None:  # an unknown type: reported by the manifest checks
            continue
        try:
            reports = check_job_files(job_type, values, loaded.directory, workers=workers)
        except Exception as exc:  # a plugin's file checks: one problem, not a traceback
            failed = failure(job_type.name, "file_checks", exc)
            problems.append(loaded.problem(("jobs", job_id, "job"), failed))
            continue
        for report in reports:
            path = ("jobs", job_id, report.param)
            at_data = _data_file_position(loaded.source.file, report, ".".join(path))
            for warning in report.warnings:
                note = at_data(warning.line, replace(warning, line=0).render())
                if note is None:  # about the file as a whole: at the parameter naming it
                    note = loaded.problem(path, warning.render(report.name or str(report.file)))
                problems.append(replace(note, severity="warning"))
            if report.ok:
                continue
            # The totals at the parameter, then each problem at its line of the data file
            # (`data.jsonl:4:1:`), where an editor or a GitHub annotation takes the reader.
            found = [loaded.problem(path, report.summary())]
            if report.invalid:  # else the one problem is about the whole file
                for problem in report.problems:
                    at_line = at_data(problem.line, _without_line(problem))
                    found.append(at_line or loaded.problem(path, problem.render()))
            problems += [replace(problem, severity=severity) for problem in found]
    return problems


def _data_file_position(
    manifest_file: str, report: PreflightReport, where: str
) -> Callable[[int, str], Problem | None]:
    """A maker of problems at a line of the report's file, named as the manifest's is (the
    manifest's folder joined with the path the manifest gives); None for line 0."""
    data_file = str(Path(manifest_file).parent / (report.name or str(report.file)))

    def at(line: int, message: str) -> Problem | None:
        return Problem(data_file, line, 1, where, message) if line > 0 else None

    return at


def _without_line(problem: FileProblem) -> str:
    """A file problem's text without its ``line N:`` (the position says it)."""
    return replace(problem, line=0).render()
