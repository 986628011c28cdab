"""Run reports: ``--report FILE.json``, ``--junit FILE.xml`` and the GitHub step summary.

A ``sailjobs_run_finished`` plugin like any other: it reads the paths from
``RunResult.options`` (``"report"``, ``"junit"``) and ``$GITHUB_STEP_SUMMARY`` from the
environment. The JSON and XML files are written atomically (a temp file beside the target,
fsynced, then renamed), so a reader never sees half a report. The step summary is appended,
as GitHub asks. Every string goes through ``runner.masking`` and export URLs are reduced to
their host, so no secret or capability URL reaches a report.
"""

from __future__ import annotations

import json
import os
import re
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.durations import format_seconds
from runner.escaping import markdown_inline
from runner.files import write_atomically
from runner.hookspecs import hookimpl
from runner.masking import mask, mask_data, redact_url, register_url
from runner.results import ActionResult, JobResult, JobStatus, RunResult

REPORT_FORMAT = "sailjobs-report/1"
# Output keys that hold a capability URL: never written, only their host.
URL_OUTPUTS = frozenset({"export_url"})
GITHUB_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_SUMMARY_ERROR_CHARS = 300  # keep the table readable; the JSON report has the full text
# Characters XML 1.0 cannot carry, even escaped (C0 controls but tab/LF/CR, surrogates, FFFE/F).
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_STATUS_ICONS = {
    JobStatus.SUCCEEDED: "✅",
    JobStatus.FAILED: "❌",
    JobStatus.TIMED_OUT: "⏱️",
    JobStatus.SKIPPED: "⏭️",
}


class ReportError(Exception):
    """One or more reports could not be written; the message names each file and why."""


# ---------------------------------------------------------------------------------------------
# The hook


@hookimpl
def sailjobs_run_finished(result: RunResult) -> None:
    """Write every report asked for; one failing report does not stop the others."""
    writers: list[tuple[str, object, Callable[[RunResult, Path], None]]] = [
        ("--report", result.options.get("report"), write_json_report),
        ("--junit", result.options.get("junit"), write_junit_report),
        (GITHUB_SUMMARY_ENV, os.environ.get(GITHUB_SUMMARY_ENV), append_github_summary),
    ]
    problems = []
    for origin, target, writer in writers:
        if not target:
            continue
        try:
            writer(result, Path(str(target)))
        except OSError as exc:
            problems.append(f"cannot write {origin} file {target}: {exc.strerror or exc}")
    if problems:
        raise ReportError("; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Shared helpers


def status_counts(result: RunResult) -> dict[str, int]:
    """Jobs per status; every terminal status is present, ``unfinished`` counts the rest."""
    counts = Counter(
        job.status.value if job.status.is_terminal else "unfinished" for job in result.jobs.values()
    )
    keys = [status.value for status in _STATUS_ICONS] + ["unfinished"]
    return {"total": len(result.jobs)} | {key: counts.get(key, 0) for key in keys}


def run_duration_seconds(result: RunResult) -> float | None:
    if result.finished_at is None:
        return None
    return (result.finished_at - result.started_at).total_seconds()


def safe_outputs(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs fit for a report: export URLs reduced to their host, every string masked."""
    cleaned: dict[str, Any] = {}
    for key, value in outputs.items():
        if key in URL_OUTPUTS and isinstance(value, str) and value:
            register_url(value)  # so the URL is masked wherever else it appears
            cleaned[key] = redact_url(value)
        else:
            cleaned[key] = value
    return mask_data(cleaned)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _json_default(value: Any) -> Any:
    """Values json can't encode itself (paths, datetimes, sets in outputs or options)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


# ---------------------------------------------------------------------------------------------
# JSON report


def _action_entry(action: ActionResult) -> dict[str, Any]:
    return {
        "name": action.name,
        "plugin": action.plugin,
        "when": action.when,
        "index": action.index,
        "succeeded": action.succeeded,
        "attempts": action.attempts,
        "resumed": action.resumed,
        "outputs": safe_outputs(action.outputs),
        "error": action.error,
        "skipped": action.skipped,
    }


def _job_entry(job: JobResult) -> dict[str, Any]:
    return {
        "id": job.id,
        "job_type": job.job_type,
        "status": job.status.value,
        "remote_job_id": job.remote_job_id,
        "remote_status": job.remote_status,
        "attempts": job.attempts,
        "polls": job.polls,
        "submitted_at": _iso(job.submitted_at),
        "finished_at": _iso(job.finished_at),
        "duration_seconds": job.duration_seconds,
        "params": job.params,
        "outputs": safe_outputs(job.outputs),
        "error": job.error,
        "warnings": job.warnings,
        "actions": [_action_entry(action) for action in job.actions],
    }


def build_report(result: RunResult) -> dict[str, Any]:
    """The JSON report as data: the run, then every job in run order, then ``notify``."""
    report = {
        "format": REPORT_FORMAT,
        "run_id": result.run_id,
        "manifest": {"name": result.manifest_name, "path": result.manifest_path},
        "status": result.status_word,
        "interrupted": result.interrupted,
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "duration_seconds": run_duration_seconds(result),
        "run_date": result.run_date.isoformat(),  # run.date: --date, else the start's day
        "summary": status_counts(result),
        "options": result.options,
        "jobs": [_job_entry(job) for job in result.jobs.values()],
        "notify": [_action_entry(action) for action in result.actions],
    }
    # A round trip through json turns paths and sets into plain values before masking.
    plain = json.loads(json.dumps(report, default=_json_default))
    masked: dict[str, Any] = mask_data(plain)
    return masked


def write_json_report(result: RunResult, path: Path) -> None:
    text = json.dumps(build_report(result), indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# JUnit XML


def _xml_text(text: str) -> str:
    """Masked text without the control characters XML 1.0 forbids (a parser would refuse them)."""
    return _XML_FORBIDDEN.sub("\ufffd", mask(text))


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _job_details(job: JobResult) -> str:
    """The testcase's system-out: what a CI reader needs to look the job up."""
    lines = [
        f"job type: {job.job_type}",
        f"status: {job.status.value}",
        f"remote job_id: {job.remote_job_id or '-'}",
        f"remote status: {job.remote_status or '-'}",
        f"attempts: {job.attempts}, polls: {job.polls}",
    ]
    outputs = safe_outputs(job.outputs)
    for key in sorted(outputs):
        lines.append(f"output {key}: {outputs[key]}")
    lines.extend(f"warning: {warning}" for warning in job.warnings)
    for action in job.actions:
        outcome = "ok" if action.succeeded else f"failed: {action.error or 'no message'}"
        outcome = f"skipped, {action.skipped}" if action.skipped else outcome
        lines.append(f"action {action.when}[{action.index}] {action.name}: {outcome}")
    return "\n".join(lines)


def _add_testcase(suite: ET.Element, result: RunResult, job: JobResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        name=_xml_text(job.id),
        classname=_xml_text(f"{result.manifest_name}.{job.job_type}"),
        time=_seconds(job.duration_seconds),
    )
    message = _xml_text(job.error or job.status.value)
    if job.status in (JobStatus.FAILED, JobStatus.TIMED_OUT):
        failure = ET.SubElement(case, "failure", message=message, type=job.status.value)
        failure.text = message
    elif job.status is JobStatus.SKIPPED:
        ET.SubElement(case, "skipped", message=message)
    elif not job.status.is_terminal:  # the run was interrupted before this job ended
        text = (
            f"not finished ({job.status.value}): the run was interrupted; "
            f"`{result.resume_command()}` resumes it"
        )
        if job.remote_job_id:
            text += f" (remote job_id {job.remote_job_id} may still be running)"
        error = ET.SubElement(case, "error", message=_xml_text(text), type="interrupted")
        error.text = _xml_text(text)
    ET.SubElement(case, "system-out").text = _xml_text(_job_details(job))


def junit_element(result: RunResult) -> ET.Element:
    """One ``testsuite`` for the run, one ``testcase`` per job (failure/skipped/error)."""
    counts = status_counts(result)
    totals = {
        "tests": str(counts["total"]),
        "failures": str(counts[JobStatus.FAILED.value] + counts[JobStatus.TIMED_OUT.value]),
        "errors": str(counts["unfinished"]),
        "skipped": str(counts[JobStatus.SKIPPED.value]),
        "time": _seconds(run_duration_seconds(result)),
    }
    root = ET.Element("testsuites", {"name": "sailjobs", **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _xml_text(result.manifest_name),
            **totals,
            "timestamp": result.started_at.isoformat(timespec="seconds"),
            "hostname": _xml_text(socket.gethostname()),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", result.run_id),
        ("manifest", result.manifest_path),
        ("status", result.status_word),
    ):
        ET.SubElement(properties, "property", name=name, value=_xml_text(value))
    for job in result.jobs.values():
        _add_testcase(suite, result, job)
    failed_notify = [action for action in result.actions if not action.succeeded]
    if failed_notify:
        lines = [
            f"notify action {action.name} ({action.when}[{action.index}]) failed: {action.error}"
            for action in failed_notify
        ]
        ET.SubElement(suite, "system-err").text = _xml_text("\n".join(lines))
    ET.indent(root)
    return root


def write_junit_report(result: RunResult, path: Path) -> None:
    data = ET.tostring(junit_element(result), encoding="utf-8", xml_declaration=True) + b"\n"
    write_atomically(path, data)


# ---------------------------------------------------------------------------------------------
# GitHub step summary


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell: masked, escaped, on one line, not too long."""
    text = " ".join(mask(text).split())
    if len(text) > _SUMMARY_ERROR_CHARS:
        text = text[: _SUMMARY_ERROR_CHARS - 1] + "…"
    return markdown_inline(text)


def _warning_cell(job: JobResult) -> str:
    return "".join(f" ⚠️ {_cell(warning)}" for warning in job.warnings)


def render_github_summary(result: RunResult) -> str:
    """A Markdown section: a headline, the counts, one table row per job, failed notifies."""
    status = result.status_word
    icon = {"succeeded": "✅", "failed": "❌", "interrupted": "⏸️"}[status]
    counts = status_counts(result)
    parts = [
        f"{counts[key]} {key.replace('_', ' ')}"
        for key in (*(s.value for s in _STATUS_ICONS), "unfinished")
        if counts[key]
    ]
    duration = format_seconds(run_duration_seconds(result))
    lines = [
        f"### {icon} sailjobs: {_cell(result.manifest_name)} {status}",
        "",
        f"Run `{_cell(result.run_id)}` · {counts['total']} jobs"
        + (f": {', '.join(parts)}" if parts else "")
        + (f" · {duration}" if duration else "")
        + (
            f" · target {_cell(str(result.options['target']))}"
            if "target" in result.options
            else ""
        )
        + (f" · for {result.logical_date}" if result.logical_date else ""),
        "",
        "| Job | Type | Status | Duration | Rows | Error |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for job in result.jobs.values():
        rows = job.rows
        job_icon = _STATUS_ICONS.get(job.status, "⏳")
        lines.append(
            f"| {_cell(job.id)} | {_cell(job.job_type)} | {job_icon} {job.status.value} "
            f"| {format_seconds(job.duration_seconds)} | {'' if rows is None else f'{rows:,}'} "
            f"| {_cell(job.error or '')}{_warning_cell(job)} |"
        )
    failed_notify = [action for action in result.actions if not action.succeeded]
    if failed_notify:
        lines.append("")
        lines.extend(
            f"- ❌ notify action `{_cell(action.name)}` failed: {_cell(action.error or '')}"
            for action in failed_notify
        )
    if result.jobs:
        lines += ["", "#### Timeline", "", *render_timeline(result)]
    return "\n".join(lines) + "\n\n"


# ---------------------------------------------------------------------------------------------
# The timeline: a mermaid gantt chart, which GitHub renders in step summaries and Markdown

# Mermaid refuses a diagram over 50,000 characters (its default maxTextSize), and the step
# summary has 1 MiB for every step: the chart draws the first jobs that fit in this.
TIMELINE_MAX_CHARS = 40_000
GANTT_DATE_FORMAT = "YYYY-MM-DD HH:mm:ss.SSS"  # mermaid's (dayjs) spelling of _gantt_date
# Characters with a meaning in a gantt line (":" ends a task's name, "#" and ";" start a
# comment or an entity, "`" would end the fenced block): never part of a name.
_GANTT_SPECIAL = re.compile(r"[:#;`\x00-\x1f\x7f]")


def _gantt_date(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


def _gantt_name(text: str) -> str:
    return " ".join(_GANTT_SPECIAL.sub(" ", mask(text)).split()) or "?"


def _job_span(result: RunResult, job: JobResult) -> tuple[datetime, datetime]:
    """From the submission to the end of the Sailthru job (its first action's start): a job
    never sent (skipped, refused) is a point at the moment it ended."""
    end = job.finished_at or result.finished_at or result.started_at
    acted = [action.started_at for action in job.actions if action.started_at is not None]
    if acted:
        end = min(acted)
    start = job.submitted_at or end
    return start, max(start, end)


def render_timeline(result: RunResult) -> list[str]:
    """A mermaid ``gantt`` block: one section per job, its bar from submission to its end,
    then a bar per action it ran (resumed ones ran in an earlier process: not drawn)."""
    lines = [
        "```mermaid",
        "gantt",
        f"    title {_gantt_name(f'Run {result.run_id} (UTC)')}",
        f"    dateFormat {GANTT_DATE_FORMAT}",
        "    axisFormat %H:%M:%S",
    ]
    jobs = list(result.jobs.values())
    size = sum(len(line) + 1 for line in lines)
    for number, job in enumerate(jobs):
        bars = _timeline_bars(result, job, number)
        size += sum(len(line) + 1 for line in bars)
        if size > TIMELINE_MAX_CHARS:
            # Beyond mermaid's limit GitHub draws an error instead of the chart.
            return [
                *lines,
                "```",
                "",
                f"Timeline of the first {number} of {len(jobs)} jobs "
                "(the table above lists them all).",
            ]
        lines += bars
    return [*lines, "```"]


def _timeline_bars(result: RunResult, job: JobResult, number: int) -> list[str]:
    """A job's section of the gantt chart: its bar, then a bar per action it ran."""
    start, end = _job_span(result, job)
    tags = {JobStatus.SUCCEEDED: "done, ", JobStatus.SKIPPED: "milestone, "}.get(
        job.status, "crit, " if job.status.is_terminal else "active, "
    )
    lines = [
        f"    section {_gantt_name(job.id)}",
        f"    {_gantt_name(f'{job.job_type} {job.status.value}')} :{tags}j{number}, "
        f"{_gantt_date(start)}, {_gantt_date(end)}",
    ]
    for index, action in enumerate(job.actions):
        if action.started_at is None or action.finished_at is None:
            continue
        tag = "" if action.succeeded else "crit, "
        outcome = "done" if action.succeeded else "failed"
        outcome = "skipped" if action.skipped else outcome
        lines.append(
            f"    {_gantt_name(f'{action.name} {outcome}')} :{tag}j{number}a{index}, "
            f"{_gantt_date(action.started_at)}, {_gantt_date(action.finished_at)}"
        )
    return lines


def append_github_summary(result: RunResult, path: Path) -> None:
    """Append the summary to ``$GITHUB_STEP_SUMMARY`` (other steps' sections are kept)."""
    text = render_github_summary(result)
    with open(path, "ab+") as summary:
        if summary.tell() > 0:  # "ab+" starts at the end
            summary.seek(-1, os.SEEK_END)
            if summary.read(1) != b"\n":  # don't glue our heading to another step's last line
                text = "\n" + text
        summary.write(text.encode("utf-8"))
