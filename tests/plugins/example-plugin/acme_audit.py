"""acme-audit: an in-house sailjobs plugin with one action and one hook.

- the ``audit_log`` action appends one JSON line per job to a file;
- the ``sailjobs_run_finished`` hook writes the run's summary to the file named by the
  ``ACME_AUDIT_SUMMARY`` environment variable, when it is set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from runner.actions import ActionContext, ActionSettings, ActionType
from runner.hookspecs import hookimpl
from runner.results import RunResult


class AuditLogSettings(ActionSettings):
    """What a manifest may write under ``audit_log:`` (unknown keys are errors)."""

    path: str  # relative to the manifest's folder
    note: str = ""


class AuditLog(ActionType):
    """Append ``{"run_id", "job", "remote_job_id", "note"}`` to a JSON-lines file, once."""

    name: ClassVar[str] = "audit_log"
    settings_model: ClassVar[type[ActionSettings]] = AuditLogSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"audit_file"})

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        path = ctx.workdir / settings.path
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "run_id": ctx.run.run_id,
            "job": ctx.job.id if ctx.job else None,
            "remote_job_id": ctx.job.remote_job_id if ctx.job else None,
            "note": settings.note,
        }
        line = json.dumps(record, sort_keys=True) + "\n"
        # An action must be safe to run again (a retry, a resumed run): write the line once.
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        if line not in existing.splitlines(keepends=True):
            with path.open("a", encoding="utf-8") as out:
                out.write(line)
        return {"audit_file": str(path)}


@hookimpl
def sailjobs_action_types() -> list[ActionType]:
    return [AuditLog()]


@hookimpl
def sailjobs_run_finished(result: RunResult) -> None:
    target = os.environ.get("ACME_AUDIT_SUMMARY")
    if not target:
        return
    summary = {
        "run_id": result.run_id,
        "manifest": result.manifest_name,
        "succeeded": result.succeeded,
        "jobs": {job_id: str(job.status) for job_id, job in result.jobs.items()},
    }
    Path(target).write_text(json.dumps(summary, indent=2), encoding="utf-8")
