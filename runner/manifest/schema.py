"""The manifest's JSON Schema (draft 2020-12), with the job types and actions of the
installed plugins, for editors (``# yaml-language-server: $schema=…``) and other tools.

Built from the same pydantic models ``load_manifest`` validates with, so the two cannot
drift apart. A value that holds ``${{ }}`` is accepted wherever a value is: its type is
only known once the expression is resolved.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from runner.actions import ActionType
from runner.durations import DURATION_PATTERN
from runner.jobtypes import JobType
from runner.manifest.loaded import action_type_map
from runner.manifest.models import (
    ACTION_LISTS,
    ENV_NAME_PATTERN,
    JOB_ID_PATTERN,
    NAME_PATTERN,
    Defaults,
    JobRunnerKeys,
    PollOverride,
    RetryOverride,
    Target,
)
from runner.plugins import job_types as installed_job_types

DRAFT = "https://json-schema.org/draft/2020-12/schema"
EXPRESSION = {
    "type": "string",
    "pattern": r"\$\{\{",
    "description": "an expression: ${{ vars.x }}, ${{ env.X }}, ${{ run.date | yyyymmdd }}, "
    "${{ jobs.<id>.outputs.<name> }}",
}
_EXPRESSION_REF = {"$ref": "#/$defs/expression"}


class _Defs:
    """Collects ``$defs`` from several pydantic models without name clashes."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {"expression": EXPRESSION}

    def model(self, model: type[BaseModel], prefix: str, *, expressions: bool) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
        for name, sub in schema.pop("$defs", {}).items():
            self.defs[prefix + name] = _allow_expressions(sub) if expressions else sub
        return _allow_expressions(schema) if expressions else schema


def _allow_expressions(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property may also be a ``${{ }}`` string (checked once resolved)."""
    schema = copy.deepcopy(schema)
    for name, prop in schema.get("properties", {}).items():
        wrapped: dict[str, Any] = {"anyOf": [prop, _EXPRESSION_REF]}
        for key in ("description", "default"):  # where editors look for them
            if key in prop:
                wrapped[key] = prop.pop(key)
        schema["properties"][name] = wrapped
    return schema


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: _strip_titles(value)
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_strip_titles(item) for item in node]
    return node


def _action_schema(name: str, action: ActionType, defs: _Defs) -> dict[str, Any]:
    settings = defs.model(action.settings_model, f"action_{name}_", expressions=True)
    settings.pop("title", None)
    if action.__doc__:
        settings.setdefault("description", action.__doc__.strip().splitlines()[0])
    defs.defs[f"action_{name}"] = settings
    return {"anyOf": [{"type": "null"}, {"$ref": f"#/$defs/action_{name}"}]}


def _job_schema(job_type: JobType, defs: _Defs) -> dict[str, Any]:
    prefix = f"job_{job_type.name}_"
    params = defs.model(job_type.params_model, prefix, expressions=True)
    properties = {
        **params.get("properties", {}),
        **defs.defs["runner_keys"]["properties"],
        "job": {"const": job_type.name},
    }
    schema: dict[str, Any] = {
        "type": "object",
        "description": job_type.description or job_type.name,
        "properties": properties,
        "required": ["job", *job_type.required_params],
        "additionalProperties": False,
    }
    return schema


def _runner_keys(defs: _Defs) -> dict[str, Any]:
    schema = defs.model(JobRunnerKeys, "runner_", expressions=False)
    props = schema["properties"]
    for when in ACTION_LISTS:
        props[when] = {"$ref": "#/$defs/action_list"}
    props["needs"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "jobs that must succeed first",
    }
    props["retry"] = defs.model(RetryOverride, "retry_", expressions=False)
    props["poll"] = defs.model(PollOverride, "poll_", expressions=False)
    props.pop("job", None)
    return schema


def manifest_schema(
    job_types: Mapping[str, JobType] | None = None,
    action_types: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON Schema of a manifest; defaults to the installed plugins' types."""
    if job_types is None:
        job_types = installed_job_types()
    actions = action_type_map(action_types)
    defs = _Defs()
    defs.defs["runner_keys"] = _runner_keys(defs)
    defs.defs["action"] = {
        "type": "object",
        "description": "one action: `- <name>: {settings}`",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            name: _action_schema(name, action, defs) for name, action in sorted(actions.items())
        },
        "additionalProperties": False,
    }
    defs.defs["action_list"] = {"type": "array", "items": {"$ref": "#/$defs/action"}}
    defs.defs["action_lists"] = {
        "type": "object",
        "properties": {when: {"$ref": "#/$defs/action_list"} for when in ACTION_LISTS},
        "additionalProperties": False,
    }
    names = sorted(job_types)
    for name in names:
        defs.defs[f"job_{name}"] = _job_schema(job_types[name], defs)
    defs.defs["job"] = {
        "type": "object",
        "required": ["job"],
        "properties": {"job": {"enum": names, "description": "the Sailthru job type"}},
        "allOf": [
            {
                "if": {"properties": {"job": {"const": name}}, "required": ["job"]},
                "then": {"$ref": f"#/$defs/job_{name}"},
            }
            for name in names
        ],
    }
    defaults = defs.model(Defaults, "defaults_", expressions=False)
    for key in ("report_email", "postback_url"):
        defaults["properties"][key] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "title": "sailjobs manifest",
        "description": "A sailjobs manifest: Sailthru jobs, their order and their actions "
        "(README: Writing manifests)",
        "type": "object",
        "required": ["version", "name", "jobs"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "the manifest format version"},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": ["string", "null"]},
            "vars": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "description": "values read by ${{ vars.<name> }}",
            },
            "defaults": defaults,
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4},
            "fail_fast": {"type": "boolean", "default": False},
            "jobs": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": JOB_ID_PATTERN},
                "additionalProperties": {"$ref": "#/$defs/job"},
            },
            "notify": {"$ref": "#/$defs/action_lists"},
            "secrets": {
                "type": "array",
                "items": {"type": "string", "pattern": ENV_NAME_PATTERN},
                "description": "env variable names whose values are secrets, masked in "
                "every output",
            },
            "targets": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": defs.model(Target, "target_", expressions=False),
                "description": "accounts a run can go to, picked with --target NAME",
            },
        },
        "$defs": defs.defs,
    }
    return _strip_titles(schema)


def schema_json(**kwargs: Any) -> str:
    return json.dumps(manifest_schema(**kwargs), indent=2, sort_keys=False)


__all__ = ["DURATION_PATTERN", "manifest_schema", "schema_json"]
