"""Load a manifest: YAML with positions → validated models, EVERY problem found in one pass.

``load_manifest`` checks the YAML, the top level, each job's runner keys and API
parameters (the job type's model and its local checks), the action lists against the
installed action types, every ``${{ }}`` expression, and the job graph (unknown needs,
cycles, unknown outputs). A bad parameter in one job never hides a cycle elsewhere: only a
YAML syntax error stops the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.actions import ActionType
from runner.expressions import Reference
from runner.jobtypes import JobType
from runner.manifest_models import (
    ActionLists,
    ActionSpec,
    Defaults,
    JobSpec,
    Manifest,
    PollPolicy,
    RetryPolicy,
)
from runner.problems import ManifestError, Problem
from runner.yamlsource import PathTuple, SourceMap, load_yaml_file

__all__ = [
    "ActionLists",
    "ActionSpec",
    "Defaults",
    "JobSpec",
    "LoadedManifest",
    "Manifest",
    "PollPolicy",
    "RetryPolicy",
    "load_manifest",
]


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
        if job_type is not None and job_type.splittable and spec.split:
            names |= _split_outputs(spec.params)
        for _, action in spec.actions.all():
            action_type = self.action_types.get(action.name)
            if action_type is not None:
                names |= action_type.outputs
        return frozenset(names)


def _split_outputs(params: Mapping[str, Any]) -> frozenset[str]:
    """The outputs of a split job, unless its dates are written out and fit in one part."""
    from runner.jobtypes import MAX_DATE_RANGE_DAYS, SPLIT_OUTPUTS, parse_yyyymmdd

    start = parse_yyyymmdd(params.get("start_date"))
    end = parse_yyyymmdd(params.get("end_date"))
    if start is not None and end is not None and (end - start).days < MAX_DATE_RANGE_DAYS:
        return frozenset()  # never split: one API job, no parts
    return SPLIT_OUTPUTS


def action_type_map(action_types: Mapping[str, Any] | None) -> dict[str, ActionType]:
    """Action name → ActionType; ``None`` means the installed plugins' ones."""
    if action_types is None:
        from runner.plugins import action_types as installed

        action_types = installed()
    # runner.plugins gives RegisteredAction(action, plugin); callers may pass ActionTypes.
    return {
        name: value if isinstance(value, ActionType) else value.action
        for name, value in action_types.items()
    }


def load_manifest(
    path: str | Path,
    *,
    job_types: Mapping[str, JobType] | None = None,
    action_types: Mapping[str, Any] | None = None,
) -> LoadedManifest:
    """Read and check one manifest; raises ManifestError with every problem found.

    ``job_types``/``action_types`` default to the installed plugins' ones.
    """
    path = Path(path)
    if job_types is None:
        from runner.plugins import job_types as installed_job_types

        job_types = installed_job_types()
    document = load_yaml_file(path, str(path))
    if document.data is None and document.problems:
        raise ManifestError(document.problems)
    from runner.manifest_loader import ManifestLoader

    loader = ManifestLoader(path, document.source, dict(job_types), action_type_map(action_types))
    loaded = loader.load(document.data)
    problems = document.problems + _outside(document.rejected, loader.problems)
    if problems or loaded is None:
        raise ManifestError(problems)
    return loaded


def _outside(rejected: set[str], problems: list[Problem]) -> list[Problem]:
    """``problems`` without those about a value the YAML layer already rejected (under an
    unsupported tag): one problem per mistake, not two."""
    kept = []
    for problem in problems:
        path = problem.path
        if any(path == r or path.startswith((r + ".", r + "[")) for r in rejected):
            continue
        kept.append(problem)
    return kept
