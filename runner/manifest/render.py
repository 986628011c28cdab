"""A plan as text, Markdown (for a pull-request comment), JSON (for tools) or a Mermaid
graph; secrets masked.

Parameters are shown resolved where they can be before the run: ``vars``, ``env`` (then
masked) and ``run`` (today's date, a placeholder run id). Job outputs do not exist yet and
stay as their ``${{ }}`` text, except a borrowed job's (not selected): those of its earlier
run, once looked up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.durations import format_duration
from runner.escaping import markdown_inline
from runner.manifest.conditions import decide, false_reason
from runner.manifest.expressions import EvalContext, ExpressionError, render
from runner.masking import mask, mask_data, register_env_secrets
from runner.splitting import Splitter

if TYPE_CHECKING:
    from runner.manifest.models import ActionSpec, JobSpec
    from runner.manifest.planner import Plan

PLAN_RUN_ID = "(assigned at run time)"


def plan_context(plan: Plan, env: Mapping[str, str], now: datetime | None = None) -> EvalContext:
    """What a plan can resolve: vars, env, and run fields as they would be today."""
    now = now or datetime.now(UTC)
    register_env_secrets(env, plan.loaded.secret_env_names)
    return EvalContext(
        vars=plan.loaded.manifest.vars,
        env=env,
        run={"id": PLAN_RUN_ID, "date": plan.loaded.logical_date or now.date(), "started_at": now},
        jobs={job_id: dict(found.outputs) for job_id, found in plan.borrowed_from.items()},
        secret_env=plan.loaded.manifest.secrets,
    )


def _rendered(value: Any, ctx: EvalContext) -> Any:
    """Resolved where possible (an unresolvable value is shown as written)."""
    if isinstance(value, dict):
        return {key: _rendered(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [_rendered(item, ctx) for item in value]
    try:
        return render(value, ctx, strict=False)
    except ExpressionError:
        return value


def _resolve(value: Any, ctx: EvalContext) -> Any:
    """Resolved where possible, then masked."""
    return mask_data(_rendered(value, ctx))


def _action(plan: Plan, action: ActionSpec, ctx: EvalContext) -> dict[str, Any]:
    settings = _rendered(action.settings, ctx)
    if (action_type := plan.loaded.action_types.get(action.name)) is not None:
        action_type.settings_model.register_credentials(settings)
    return {
        "name": action.name,
        "settings": mask_data(settings),
        "continue_on_error": action.continue_on_error,
        "if": action.condition_text,
    }


def _split_parts(splitter: Splitter, params: dict[str, Any]) -> list[dict[str, str]] | None:
    """The parts a ``split: true`` job will run as, when its resolved parameters say (None:
    its range is not known before the run, or fits in one API job)."""
    return splitter.parts(params) or None


def _job_data(plan: Plan, job_id: str, ctx: EvalContext) -> dict[str, Any]:
    planned = plan.jobs[job_id]
    spec: JobSpec = planned.spec
    params = _resolve(spec.params, ctx)
    splitter = planned.job_type.splitter if spec.split else None
    return {
        "id": job_id,
        "job": spec.job,
        "needs": sorted(planned.needs),
        "needs_reasons": {need: plan.reason(job_id, need) for need in sorted(planned.needs)},
        "params": params,
        "timeout": format_duration(spec.timeout),
        "retry": {
            "attempts": spec.retry.attempts,
            "initial": format_duration(spec.retry.initial),
            "max": format_duration(spec.retry.max),
        },
        "poll": {
            "initial": format_duration(spec.poll.initial),
            "max": format_duration(spec.poll.max),
        },
        "preflight": spec.preflight,
        "split": spec.split,
        # split: true with dates known now: the parts it runs as (null: one export, or the
        # dates are only known at run time)
        "split_parts": _split_parts(splitter, params) if splitter else None,
        "resubmit_safe": planned.job_type.resubmit_safe,
        # deletes data in Sailthru: runs only because the job says confirm: true
        "destructive": planned.job_type.destructive,
        "actions": {
            when: [_action(plan, action, ctx) for action in getattr(spec, when)]
            for when in ("on_success", "on_failure", "always")
        },
        "if": spec.condition_text,
        # true/false when its if: reads only vars, env and run; null when it reads a job's
        # outputs (decided at run time)
        "if_result": (decided := _decided(spec, ctx)),
        "skipped": false_reason(spec.condition_text, spec.each) if decided is False else None,
    }


def borrowed_line(plan: Plan, job_id: str) -> str:
    """``export-main: not selected; outputs from run R of 2026-12-02``."""
    found = plan.borrowed_from.get(job_id)
    source = found.describe() if found else "its last successful run"
    return f"{job_id}: not selected; outputs from {source}"


def _borrowed_data(plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for job_id, needed_by in plan.borrowed.items():
        found = plan.borrowed_from.get(job_id)
        rows.append(
            {
                "id": job_id,
                "needed_by": needed_by,
                "run_id": found.run_id if found else None,
                "finished_at": found.finished_at.isoformat()
                if found and found.finished_at
                else None,
                "description": borrowed_line(plan, job_id),
            }
        )
    return rows


def _decided(spec: JobSpec, ctx: EvalContext) -> bool | None:
    if spec.condition is None:
        return None
    try:
        return decide(spec.condition, ctx, strict=False)
    except ExpressionError:
        return None  # an env variable not set here: told with the environment it needs


def plan_data(plan: Plan, env: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """The plan as plain data (what ``--format json`` prints)."""
    ctx = plan_context(plan, env, now)
    manifest = plan.loaded.manifest
    return {
        "manifest": str(plan.loaded.path),
        "name": manifest.name,
        "description": manifest.description,
        "concurrency": manifest.concurrency,
        "fail_fast": manifest.fail_fast,
        "select": list(plan.selection.select),
        "exclude": list(plan.selection.exclude),
        # Not selected, but selected jobs need them: their outputs come from an earlier run.
        "borrowed": _borrowed_data(plan),
        "levels": plan.levels,
        "jobs": [_job_data(plan, job_id, ctx) for job_id in plan.jobs],
        "notify": {
            when: [_action(plan, action, ctx) for action in getattr(manifest.notify, when)]
            for when in ("on_success", "on_failure", "always")
        },
        "required_env": sorted(plan.required_env),
        "inputs": plan.loaded.inputs.as_data(),
    }


def render_json(plan: Plan, env: Mapping[str, str], now: datetime | None = None) -> str:
    return mask(json.dumps(plan_data(plan, env, now), indent=2, default=str))


def _inline(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _action_line(action: dict[str, Any]) -> str:
    settings = ", ".join(f"{k}: {_inline(v)}" for k, v in action["settings"].items())
    tail = " (continue on error)" if action["continue_on_error"] else ""
    tail += f" if: {action['if']}" if action["if"] is not None else ""
    return f"{action['name']} {{{settings}}}{tail}"


def render_text(plan: Plan, env: Mapping[str, str], now: datetime | None = None) -> str:
    """Jobs in the order they run, with resolved parameters, dependencies and actions."""
    data = plan_data(plan, env, now)
    jobs = {job["id"]: job for job in data["jobs"]}
    count = len(jobs)
    lines = [
        f"Plan: {data['name']} ({data['manifest']})",
        f"{count} job{'s' * (count != 1)} in {len(data['levels'])} step"
        f"{'s' * (len(data['levels']) != 1)}, up to {data['concurrency']} at once"
        + (", stopping at the first failure" if data["fail_fast"] else ""),
    ]
    inputs = data["inputs"]
    if inputs["target"]:
        lines.append(f"Target: {inputs['target']}")
    if inputs["date"]:
        lines.append(f"Date: {inputs['date']} (run.date)")
    for name, value in inputs["vars"].items():
        lines.append(f"Var: {name} = {_inline(value)}")
    if plan.selection.select or plan.selection.exclude:
        lines.append(f"Selected: {plan.selection.describe()}")
    if plan.borrowed:
        lines.append("")
        lines.append("From earlier runs:")
        for row in data["borrowed"]:
            lines.append(f"  {row['description']} (for {', '.join(row['needed_by'])})")
    for number, level in enumerate(data["levels"], start=1):
        lines.append("")
        lines.append(f"Step {number}: {', '.join(level)}")
        for job_id in level:
            job = jobs[job_id]
            lines.append(
                f"  {job_id}  [{job['job']}]"
                + ("  DELETES DATA (confirm: true)" if job["destructive"] else "")
            )
            if job["skipped"]:
                lines.append(f"    skipped: {job['skipped']}")
            elif job["if"] is not None:
                when = "true" if job["if_result"] else "decided when its needs are done"
                lines.append(f"    if: {job['if']} ({when})")
            if job["needs"]:
                needs = ", ".join(
                    need if reason == "needs" else f"{need} (reads {reason})"
                    for need, reason in job["needs_reasons"].items()
                )
                lines.append(f"    needs: {needs}")
            for key, value in job["params"].items():
                lines.append(f"    {key}: {_inline(value)}")
            retry = job["retry"]
            splitter = plan.jobs[job_id].job_type.splitter if job["split"] else None
            lines.append(
                f"    timeout {job['timeout']}, retry {retry['attempts']} attempts "
                f"({retry['initial']}..{retry['max']}), poll {job['poll']['initial']}.."
                f"{job['poll']['max']}"
                + (f", preflight {job['preflight']}" if job["preflight"] != "on" else "")
                + (f", split if {splitter.rule}" if splitter and not job["split_parts"] else "")
            )
            if splitter and job["split_parts"]:
                ranges = ", ".join(splitter.span(part) for part in job["split_parts"])
                lines.append(f"    split into {len(job['split_parts'])} {splitter.unit}: {ranges}")
            for when, actions in job["actions"].items():
                for action in actions:
                    lines.append(f"    {when}: {_action_line(action)}")
    notify = [(when, a) for when, actions in data["notify"].items() for a in actions]
    if notify:
        lines.append("")
        lines.append("When the run ends:")
        for when, action in notify:
            lines.append(f"  {when}: {_action_line(action)}")
    if data["required_env"]:
        lines.append("")
        lines.append(f"Environment: {', '.join(data['required_env'])}")
    return mask("\n".join(lines))


def render_mermaid(plan: Plan) -> str:
    """A ``flowchart`` a pull request renders: explicit needs solid, output reads dotted;
    a borrowed job (not selected: its outputs come from an earlier run) drawn dashed."""
    shown = [*plan.borrowed, *plan.jobs]
    node_ids = {job_id: f"j{index}" for index, job_id in enumerate(shown)}
    lines = ["flowchart LR"]
    for job_id in plan.borrowed:
        label = f"{job_id}<br/>not selected: earlier run".replace('"', "#quot;")
        lines.append(f'  {node_ids[job_id]}["{label}"]')
        lines.append(f"  style {node_ids[job_id]} stroke-dasharray: 5 5")
    for job_id, planned in plan.jobs.items():
        label = f"{job_id}<br/>{planned.spec.job}".replace('"', "#quot;")
        lines.append(f'  {node_ids[job_id]}["{label}"]')
    for job_id, planned in plan.jobs.items():
        for need in sorted(planned.needs, key=shown.index):
            reason = plan.reason(job_id, need)
            if reason == "needs":
                lines.append(f"  {node_ids[need]} --> {node_ids[job_id]}")
            else:
                lines.append(f"  {node_ids[need]} -. {reason} .-> {node_ids[job_id]}")
    return mask("\n".join(lines))


def _cell(value: Any) -> str:
    """A table cell: masked, then escaped (a value may hold Markdown or HTML)."""
    return markdown_inline(mask(_inline(value)))


def render_markdown(plan: Plan, env: Mapping[str, str], now: datetime | None = None) -> str:
    """The plan for a pull-request comment: a heading, what it was made with (target, date,
    vars, selection, outputs borrowed from earlier runs), a table of jobs, the actions and
    the Mermaid graph in a fenced block (GitHub renders it)."""
    data = plan_data(plan, env, now)
    inputs = data["inputs"]
    title = f"### Plan: {_cell(data['name'])}"
    where = [f"manifest {_cell(data['manifest'])}"]
    if inputs["target"]:
        where.append(f"target {_cell(inputs['target'])}")
    if inputs["date"]:
        where.append(f"run.date {_cell(inputs['date'])}")
    count = len(data["jobs"])
    where.append(f"{count} job{'s' * (count != 1)} in {len(data['levels'])} step"
                 f"{'s' * (len(data['levels']) != 1)}")  # fmt: skip
    lines = [title, "", ", ".join(where)]
    made_with = [f"- var {_cell(name)}: {_cell(value)}" for name, value in inputs["vars"].items()]
    if plan.selection.select or plan.selection.exclude:
        made_with.append(f"- selected: {_cell(plan.selection.describe())}")
    made_with += [f"- {_cell(row['description'])}" for row in data["borrowed"]]
    if made_with:
        lines += ["", *made_with]
    lines += ["", "| Job | Type | Needs | Parameters |", "| --- | --- | --- | --- |"]
    actions: list[str] = []
    for job in data["jobs"]:
        params = "<br>".join(f"{_cell(k)}: {_cell(v)}" for k, v in job["params"].items())
        if job["skipped"]:
            params = f"**skipped**: {_cell(job['skipped'])}" + (f"<br>{params}" if params else "")
        elif job["if"]:
            params = f"if: {_cell(job['if'])}" + (f"<br>{params}" if params else "")
        needs = ", ".join(_cell(need) for need in job["needs"]) or "-"
        kind = _cell(job["job"]) + (" **deletes data**" if job["destructive"] else "")
        lines.append(f"| {_cell(job['id'])} | {kind} | {needs} | {params or '-'} |")
        for when, items in job["actions"].items():
            actions.extend(f"- {_cell(job['id'])} {when}: {_cell(_action_line(a))}" for a in items)
    actions.extend(
        f"- when the run ends, {when}: {_cell(_action_line(a))}"
        for when, items in data["notify"].items()
        for a in items
    )
    if actions:
        lines += ["", "Actions:", "", *actions]
    if data["required_env"]:
        lines += ["", f"Environment: {', '.join(_cell(n) for n in data['required_env'])}"]
    lines += ["", "```mermaid", render_mermaid(plan), "```"]
    return mask("\n".join(lines))
