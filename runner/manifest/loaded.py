"""A manifest that loaded without problems: its models, where each value is in the YAML, and
what its expressions read (``LoadedManifest``), built by ``runner.manifest.loader``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from runner.actions import ActionType
from runner.jobtypes import SPLIT_OUTPUTS, JobType
from runner.manifest.expressions import Reference
from runner.manifest.inputs import Inputs
from runner.manifest.models import Manifest, Target
from runner.manifest.yamlsource import PathTuple, SourceMap
from runner.plugins import action_types as installed_action_types
from runner.problems import Problem


@dataclass
class LoadedManifest:
    """A valid manifest, where each of its values is, and what its expressions read."""

    path: Path
    manifest: Manifest
    source: SourceMap
    job_types: dict[str, JobType] = field(repr=False)
    action_types: dict[str, ActionType] = field(repr=False)
    # job id -> references in its params and actions; and those of notify.
    job_references: dict[str, set[Reference]] = field(default_factory=dict, repr=False)
    notify_references: set[Reference] = field(default_factory=set, repr=False)
    # (job id | "notify" | "vars" | "defaults", reference) → where it first appears.
    reference_paths: dict[tuple[str, Reference], PathTuple] = field(
        default_factory=dict, repr=False
    )
    # A for_each job's id → the ids of its instances (``export-lists[VIP]``, …).
    families: dict[str, list[str]] = field(default_factory=dict, repr=False)
    # Problems that do not make it invalid (a case the API page is silent on), shown by
    # validate, plan and run.
    warnings: list[Problem] = field(default_factory=list, repr=False)
    # What the command line gave besides the manifest (var overrides, --date, --target).
    inputs: Inputs = field(default_factory=Inputs)
    # A saved plan's run.date, frozen when the plan was made (None: not a saved plan).
    frozen_run_date: date | None = None

    @property
    def logical_date(self) -> date | None:
        """``run.date`` as given: ``--date``, or the date a saved plan was made for; None
        for a run of the day it starts."""
        return self.inputs.date or self.frozen_run_date

    @property
    def target(self) -> Target | None:
        """The ``--target`` chosen (None: the default credentials and vars)."""
        name = self.inputs.target
        return self.manifest.targets.get(name) if name else None

    @property
    def secret_env_names(self) -> frozenset[str]:
        """Env variables whose values are secrets by the manifest's word: its ``secrets:``
        and the chosen target's key and secret, whatever those variables are called."""
        target = self.target
        names = {target.api_key_env, target.api_secret_env} if target else set()
        return self.manifest.secrets | names

    @property
    def directory(self) -> Path:
        """The manifest's folder: relative file paths in it resolve here."""
        return self.path.parent

    def position(self, path: tuple[str | int, ...]) -> tuple[int, int]:
        """(line, col), 1-based, of the value at ``path`` (its key for a mapping or list)."""
        return self.source.position(path)

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        return self.source.problem(path, message)

    def job_outputs(self, job_id: str) -> frozenset[str]:
        """What ``jobs.<id>.outputs.*`` may name: the job type's outputs plus its actions'."""
        spec = self.manifest.jobs[job_id]
        job_type = self.job_types.get(spec.job)
        names = set(job_type.outputs) if job_type else set()
        if job_type is not None and job_type.splitter is not None and spec.split:
            parts = job_type.splitter.parts(spec.params)
            if parts != []:  # [] is a range written out that fits in one job: no parts
                names |= SPLIT_OUTPUTS
            if parts:
                names.discard("export_url")  # its export is a local file: export_path
        for _, action in spec.actions.all():
            action_type = self.action_types.get(action.name)
            if action_type is not None:
                names |= action_type.outputs
        return frozenset(names)


def action_type_map(action_types: Mapping[str, Any] | None) -> dict[str, ActionType]:
    """Action name → ActionType; ``None`` means the installed plugins' ones."""
    if action_types is None:
        action_types = installed_action_types()
    # runner.plugins gives RegisteredAction(action, plugin); callers may pass ActionTypes.
    return {
        name: value if isinstance(value, ActionType) else value.action
        for name, value in action_types.items()
    }
