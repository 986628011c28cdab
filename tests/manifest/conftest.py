"""Helpers for the manifest tests: write a manifest, load it, and a test plugin's actions."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from runner.actions import ActionContext, ActionSettings, ActionType
from runner.hookspecs import hookimpl


class FetchSettings(ActionSettings):
    path: str
    mode: Literal["fast", "safe"] = "safe"


class Fetch(ActionType):
    """A test action that needs an export, like ``download``."""

    name = "fetch"
    settings_model = FetchSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"path", "bytes", "rows", "sha256"})
    needs_export = True

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        return {"path": settings.path, "bytes": 0, "rows": 0, "sha256": ""}


class NoteSettings(ActionSettings):
    text: str
    times: int = 1


class Note(ActionType):
    name = "note"
    settings_model = NoteSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"sent"})

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        return {"sent": True}


class _TestActionsPlugin:
    @hookimpl
    def sailjobs_action_types(self) -> list[ActionType]:
        return [Fetch(), Note()]


@pytest.fixture
def test_actions() -> None:
    """Registers the ``fetch`` and ``note`` test actions (the manager is reset after)."""
    from runner.plugins import get_plugin_manager

    get_plugin_manager().register(_TestActionsPlugin(), name="manifest-test-actions")


@pytest.fixture
def write(tmp_path: Path):
    """write(text, name="m.yaml") -> Path: a dedented manifest in tmp_path."""

    def _write(text: str, name: str = "m.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return _write


def problems_of(path: Path) -> list[str]:
    """Every rendered problem of a manifest (empty when valid), file name stripped."""
    from runner.manifest.loader import load_manifest
    from runner.problems import ManifestError

    try:
        load_manifest(path)
    except ManifestError as exc:
        return [problem.render().removeprefix(f"{path}:") for problem in exc.problems]
    return []
