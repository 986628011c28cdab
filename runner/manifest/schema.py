"""The manifest's JSON Schema (draft-07, as SchemaStore and editors want it), for editors
(``# yaml-language-server: $schema=…``), SchemaStore and other tools.

Two forms: the core schema (``sailjobs schema``, committed as ``sailjobs.schema.json``)
describes the built-in job types and actions only, and takes any other job type or action
as one a plugin may provide, so it is the same wherever it is made; ``sailjobs schema
--with-plugins`` describes the installed plugins' ones too and refuses any other.

Built from the same pydantic models ``load_manifest`` validates with, so the two cannot
drift apart. A value that holds ``${{ }}`` is accepted wherever a value is: its type is
only known once the expression is resolved. Every property has a description (a test
walks the schema), and no ``type`` lists or ``$ref`` siblings, which Ajv's strict mode (what
SchemaStore checks with) refuses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from runner.actions import ActionType
from runner.durations import DURATION_PATTERN, format_duration
from runner.jobtypes import JobType
from runner.manifest.loaded import action_type_map
from runner.manifest.models import (
    ACTION_LISTS,
    ENV_NAME_PATTERN,
    JOB_ID_PATTERN,
    NAME_PATTERN,
    Defaults,
    JobRunnerKeys,
    ManifestHeader,
    PollOverride,
    RetryOverride,
    Target,
)
from runner.plugins import DEFAULT_PLUGINS, job_type_owners
from runner.plugins import action_types as installed_action_types
from runner.plugins import job_types as installed_job_types

DRAFT = "http://json-schema.org/draft-07/schema#"
# Where SchemaStore serves a schema it lists (its catalog maps manifests to it); an id,
# stable across releases, not a place sailjobs downloads anything from.
SCHEMA_ID = "https://json.schemastore.org/sailjobs.json"
DEFS = "definitions"
EXPRESSION = {
    "type": "string",
    "pattern": r"\$\{\{",
    "description": "an expression: ${{ vars.x }}, ${{ env.X }}, ${{ run.date | yyyymmdd }}, "
    "${{ jobs.<id>.outputs.<name> }}",
}
_EXPRESSION_REF = {"$ref": f"#/{DEFS}/expression"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/{DEFS}/{name}"}


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """``schema`` with a description; a ``$ref`` is wrapped, as draft-07 ignores its siblings."""
    if "$ref" in schema:
        return {"allOf": [schema], "description": description}
    return {**schema, "description": description}


class _Defs:
    """Collects ``definitions`` from several pydantic models without name clashes."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {"expression": EXPRESSION}

    def model(self, model: type[BaseModel], prefix: str, *, expressions: bool) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=f"#/{DEFS}/{prefix}{{model}}")
        _duration_defaults(model, schema)
        for name, sub in schema.pop("$defs", {}).items():
            self.defs[prefix + name] = _allow_expressions(sub) if expressions else sub
        return _allow_expressions(schema) if expressions else schema


def _duration_defaults(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """A duration's default as a manifest writes it (``3h``), not pydantic's ``PT3H``."""
    for name, field in model.model_fields.items():
        if isinstance(field.default, timedelta) and name in schema.get("properties", {}):
            schema["properties"][name]["default"] = format_duration(field.default)


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


def _for_draft_07(node: Any) -> Any:
    """Without pydantic's titles (noise in completions), a property's ``$ref`` wrapped so
    its description counts, and ``null`` defaults dropped (nothing to offer)."""
    if isinstance(node, list):
        return [_for_draft_07(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _property(prop) for name, prop in value.items()}
        else:
            out[key] = _for_draft_07(value)
    return out


def _property(prop: Any) -> Any:
    prop = _for_draft_07(prop)
    if isinstance(prop, dict) and "$ref" in prop and len(prop) > 1:
        siblings = {key: value for key, value in prop.items() if key != "$ref"}
        return {"allOf": [{"$ref": prop["$ref"]}], **siblings}
    return prop


def _action_schema(name: str, action: ActionType, defs: _Defs) -> dict[str, Any]:
    settings = defs.model(action.settings_model, f"action_{name}_", expressions=True)
    settings.pop("title", None)
    summary = action.__doc__.strip().splitlines()[0] if action.__doc__ else f"the {name} action"
    settings.setdefault("description", summary)
    defs.defs[f"action_{name}"] = settings
    return {"anyOf": [{"type": "null"}, _ref(f"action_{name}")], "description": summary}


def _job_schema(job_type: JobType, defs: _Defs) -> dict[str, Any]:
    prefix = f"job_{job_type.name}_"
    params = defs.model(job_type.params_model, prefix, expressions=True)
    properties = {
        **params.get("properties", {}),
        **defs.defs["runner_keys"]["properties"],
        "job": {"const": job_type.name, "description": "the Sailthru job type"},
    }
    required = ["job", *job_type.required_params]
    if job_type.destructive:  # runs only with `confirm: true` written in the manifest
        properties["confirm"] = {
            "const": True,
            "description": "true: this job deletes data; written once the manifest is reviewed",
        }
        required.append("confirm")
    else:
        properties.pop("confirm", None)  # `confirm` is for types that delete data
    return {
        "type": "object",
        "description": job_type.description or job_type.name,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _runner_keys(defs: _Defs) -> dict[str, Any]:
    schema = defs.model(JobRunnerKeys, "runner_", expressions=False)
    props = schema["properties"]
    for when in ACTION_LISTS:
        props[when] = _described(_ref("action_list"), props[when]["description"])
    props["needs"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": props["needs"]["description"],
    }
    for key, model in (("retry", RetryOverride), ("poll", PollOverride)):
        props[key] = {
            **defs.model(model, f"{key}_", expressions=False),
            "description": props[key]["description"],
        }
    props.pop("job", None)
    return schema


def builtin_types() -> tuple[dict[str, JobType], dict[str, ActionType]]:
    """The job types and actions sailjobs itself registers (its built-in plugins)."""
    owners = job_type_owners()
    jobs = {
        name: job_type
        for name, job_type in installed_job_types().items()
        if owners[name] in DEFAULT_PLUGINS
    }
    actions = {
        name: registered.action
        for name, registered in installed_action_types().items()
        if registered.plugin in DEFAULT_PLUGINS
    }
    return jobs, actions


def _header(name: str) -> str:
    description = ManifestHeader.model_fields[name].description
    assert description, f"ManifestHeader.{name} needs a description (the schema shows it)"
    return description


_WRITTEN_OUT = frozenset(
    {"version", "name", "description", "vars", "defaults", "concurrency", "fail_fast"}
    | {"jobs", "notify", "secrets", "targets"}
)


def _header_keys_not_written_out(defs: _Defs) -> dict[str, Any]:
    """A top-level key added to ``ManifestHeader`` is in the schema (as its model says)
    before anyone writes its schema out in ``manifest_schema``."""
    header_defs = _Defs()
    props = header_defs.model(ManifestHeader, "header_", expressions=False)["properties"]
    added = {name: prop for name, prop in props.items() if name not in _WRITTEN_OUT}
    if added:
        defs.defs.update(header_defs.defs)
    return added


def manifest_schema(
    job_types: Mapping[str, JobType] | None = None,
    action_types: Mapping[str, Any] | None = None,
    *,
    with_plugins: bool = False,
) -> dict[str, Any]:
    """The JSON Schema of a manifest.

    The core schema (the default): the built-in job types and actions, and any other one
    taken as a plugin's. ``with_plugins``: the installed plugins' types as well, and no
    other. ``job_types``/``action_types`` replace the types described (tests).
    """
    if job_types is None or action_types is None:
        builtin_jobs, builtin_actions = builtin_types()
        if job_types is None:
            job_types = installed_job_types() if with_plugins else builtin_jobs
        if action_types is None:
            action_types = None if with_plugins else builtin_actions
    actions = action_type_map(action_types)
    defs = _Defs()
    defs.defs["runner_keys"] = _runner_keys(defs)
    plugin_action = {
        "anyOf": [{"type": "null"}, {"type": "object"}],
        "description": "an action a plugin provides (`sailjobs schema --with-plugins` "
        "describes the installed ones)",
    }
    defs.defs["action"] = {
        "type": "object",
        "description": "one action: `- <name>: {settings}`",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            name: _action_schema(name, action, defs) for name, action in sorted(actions.items())
        },
        "additionalProperties": False if with_plugins else plugin_action,
    }
    defs.defs["action_list"] = {
        "type": "array",
        "description": "actions run one after the other",
        "items": _ref("action"),
    }
    defs.defs["action_lists"] = {
        "type": "object",
        "description": "action lists by when they run",
        "properties": {
            "on_success": _described(_ref("action_list"), "actions when every job succeeded"),
            "on_failure": _described(_ref("action_list"), "actions when a job failed"),
            "always": _described(_ref("action_list"), "actions whatever the outcome"),
        },
        "additionalProperties": False,
    }
    names = sorted(job_types)
    for name in names:
        defs.defs[f"job_{name}"] = _job_schema(job_types[name], defs)
    job_name: dict[str, Any] = {"enum": names}
    if not with_plugins:  # a plugin's job type: its keys are checked by `validate`
        job_name = {"anyOf": [job_name, {"type": "string", "minLength": 1}]}
    defs.defs["job"] = {
        "type": "object",
        "description": "one job: the Sailthru job type, its API parameters and runner keys",
        "required": ["job"],
        "properties": {"job": {**job_name, "description": "the Sailthru job type"}},
        "allOf": [
            {
                "if": {
                    "properties": {"job": {"const": name, "description": "the Sailthru job type"}},
                    "required": ["job"],
                },
                "then": _ref(f"job_{name}"),
            }
            for name in names
        ],
    }
    defaults = defs.model(Defaults, "defaults_", expressions=False)
    for key in ("report_email", "postback_url"):
        defaults["properties"][key] = {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": defaults["properties"][key]["description"],
        }
    title = "sailjobs manifest" + (" (with the installed plugins)" if with_plugins else "")
    schema: dict[str, Any] = {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": title,
        "description": "A sailjobs manifest: Sailthru jobs, their order and their actions "
        "(README: Writing manifests)",
        "type": "object",
        "required": ["version", "name", "jobs"],
        "additionalProperties": False,
        "properties": {
            **_header_keys_not_written_out(defs),
            "version": {"const": 1, "description": _header("version")},
            "name": {"type": "string", "minLength": 1, "description": _header("name")},
            "description": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "description": "what the pipeline is for, shown in plans",
            },
            "vars": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "description": _header("vars"),
            },
            "defaults": _described(defaults, "settings every job takes unless it sets its own"),
            "concurrency": {
                "type": "integer",
                "minimum": 1,
                "maximum": 64,
                "default": 4,
                "description": _header("concurrency"),
            },
            "fail_fast": {"type": "boolean", "default": False, "description": _header("fail_fast")},
            "jobs": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": JOB_ID_PATTERN},
                "additionalProperties": _ref("job"),
                "description": "the jobs by id (lower case, digits, -, _)",
            },
            "notify": _described(_ref("action_lists"), _header("notify")),
            "secrets": {
                "type": "array",
                "items": {"type": "string", "pattern": ENV_NAME_PATTERN},
                "description": _header("secrets"),
            },
            "targets": {
                "type": "object",
                "propertyNames": {"pattern": NAME_PATTERN},
                "additionalProperties": defs.model(Target, "target_", expressions=False),
                "description": "accounts a run can go to, picked with --target NAME",
            },
        },
        DEFS: defs.defs,
    }
    if with_plugins:  # made for one installation: not the schema SchemaStore lists
        del schema["$id"]
    stripped = _for_draft_07(schema)  # pydantic's titles go, not this one
    return {key: title if key == "title" else stripped[key] for key in schema}


def schema_json(*, with_plugins: bool = False) -> str:
    return json.dumps(manifest_schema(with_plugins=with_plugins), indent=2)


__all__ = ["DURATION_PATTERN", "SCHEMA_ID", "builtin_types", "manifest_schema", "schema_json"]
