"""The manifest JSON Schema as editors and SchemaStore take it: draft-07 with an ``$id``, a
title and a description on every property; a core schema that is the same whatever
plugins are installed (and committed as ``sailjobs.schema.json``); ``--with-plugins`` for
this installation's plugins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from runner.cli import cli

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "sailjobs.schema.json"
FORMS = {"core": ["schema"], "with-plugins": ["schema", "--with-plugins"]}


def schema_of(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def nodes(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every subschema (and value) of ``node`` with its JSON pointer."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from nodes(value, f"{path}/{index}")


@pytest.mark.parametrize("form", FORMS)
def test_every_property_has_a_description(form):
    schema = schema_of(*FORMS[form])
    missing = [
        f"{path}/properties/{name}"
        for path, node in nodes(schema)
        if isinstance(node, dict) and isinstance(node.get("properties"), dict)
        for name, prop in node["properties"].items()
        if not (isinstance(prop, dict) and prop.get("description"))
    ]
    assert missing == []


@pytest.mark.parametrize("form", FORMS)
def test_the_schema_is_draft_07_with_a_title(form):
    schema = schema_of(*FORMS[form])
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"].startswith("sailjobs manifest")
    assert schema["description"]


def test_the_core_schema_has_the_stable_id_schemastore_serves_it_at():
    schema = schema_of("schema")
    assert schema["$id"] == "https://json.schemastore.org/sailjobs.json"
    # Made for one installation: it must not claim the id of the published schema.
    assert "$id" not in schema_of("schema", "--with-plugins")


@pytest.mark.parametrize("form", FORMS)
def test_the_schema_passes_what_ajv_strict_mode_refuses(form):
    """SchemaStore compiles schemas with Ajv in strict mode, which refuses `type` lists, a
    `$ref` with sibling keywords (draft-07 ignores them) and `propertyNames` without
    `type: object` (each found by compiling this schema with Ajv 8, strict: true)."""
    schema = schema_of(*FORMS[form])
    refused = []
    for path, node in nodes(schema):
        if not isinstance(node, dict) or path.endswith(("/properties", "/definitions")):
            continue
        if isinstance(node.get("type"), list):
            refused.append(f"{path}: a type list")
        if "$ref" in node and len(node) > 1:
            refused.append(f"{path}: $ref with siblings")
        if "propertyNames" in node and node.get("type") != "object":
            refused.append(f"{path}: propertyNames without type object")
    assert refused == []


def test_the_committed_schema_is_the_core_schema():
    """`sailjobs.schema.json` is what editors and SchemaStore point at; regenerate it with
    `sailjobs schema > sailjobs.schema.json`."""
    result = CliRunner().invoke(cli, ["schema"], catch_exceptions=False)
    assert COMMITTED.read_text(encoding="utf-8") == result.stdout, (
        "regenerate it: .venv/bin/sailjobs schema > sailjobs.schema.json"
    )


def test_the_core_schema_does_not_depend_on_the_installed_plugins(test_actions):
    # test_actions registers a plugin with the `note` and `fetch` actions.
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == schema_of("schema")
    assert "action_note" in schema_of("schema", "--with-plugins")["definitions"]


def test_the_core_schema_takes_a_plugins_action_and_job_type_with_plugins_refuses_unknown():
    manifest = {
        "version": 1,
        "name": "x",
        "jobs": {
            "export": {
                "job": "export_list_data",
                "list": "Main",
                "on_success": [{"s3": {"bucket": "b"}}, {"download": {"path": "out/"}}],
            },
            "custom": {"job": "acme_sync", "anything": 1},
        },
    }
    core = jsonschema.Draft7Validator(schema_of("schema"))
    assert [error.message for error in core.iter_errors(manifest)] == []
    manifest["jobs"]["export"]["on_success"][1]["download"]["nope"] = 1  # a built-in: checked
    assert any("nope" in error.message for error in core.iter_errors(manifest))
    exact = jsonschema.Draft7Validator(schema_of("schema", "--with-plugins"))
    assert any("acme_sync" in error.message for error in exact.iter_errors(manifest))


def test_a_duration_default_reads_as_a_manifest_writes_it():
    defaults = schema_of("schema")["properties"]["defaults"]["properties"]
    assert defaults["timeout"]["default"] == "3h"


def test_every_top_level_key_a_manifest_takes_is_in_the_schema():
    """A key added to the manifest's header model shows up (with its description) without
    anyone editing the schema by hand."""
    from runner.manifest.models import ManifestHeader

    for form in FORMS.values():
        assert set(schema_of(*form)["properties"]) == set(ManifestHeader.model_fields)


def test_the_schema_asks_confirm_of_a_type_that_deletes_data_and_of_no_other() -> None:
    validator = jsonschema.Draft7Validator(schema_of("schema"))

    def errors(job: dict[str, object]) -> list[str]:
        manifest = {"version": 1, "name": "m", "jobs": {"a": job}}
        return [error.message for error in validator.iter_errors(manifest)]

    assert errors({"job": "list_erase", "lists": ["Old"]}) == ["'confirm' is a required property"]
    assert errors({"job": "list_erase", "lists": ["Old"], "confirm": True}) == []
    assert errors({"job": "list_erase", "lists": ["Old"], "confirm": False}) != []
    assert errors({"job": "export_list_data", "list": "L", "confirm": True}) != []
    assert errors({"job": "export_list_data", "list": "L"}) == []
