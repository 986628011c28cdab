"""What ``sailjobs validate`` does, as a library: find manifests, collect every problem."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from runner.manifest.loader import load_manifest
from runner.manifest.models import ManifestHeader
from runner.manifest.planner import build_plan
from runner.manifest.yamlsource import paused_gc
from runner.plugins import job_type_failure
from runner.preflight.jobfiles import check_manifest_files
from runner.problems import ManifestError, Problem

MANIFEST_SUFFIXES = (".yaml", ".yml")
# The top-level keys of a sandbox seed file (runner/sandbox/seedfile.py's SECTIONS; a test
# keeps the two equal): such a file lives beside manifests but is not one.
SEED_SECTIONS = frozenset({"lists", "users", "purchases", "scheduled_sends", "blasts"})
_MANIFEST_KEY = re.compile(r"^(?:version|jobs)\s*:", re.MULTILINE)  # a top-level key
_VERSION_1 = re.compile(r"""^version\s*:\s*(?:1|'1'|"1")\s*(?:#.*)?$""", re.MULTILINE)
MANIFEST_KEYS = frozenset(ManifestHeader.model_fields)
SEED_FILE = "a sandbox seed file (--seed), not a manifest"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestPathError(Exception):
    """A path given on the command line that is missing or holds no manifest."""


@dataclass(frozen=True)
class Skipped:
    """A YAML file ``validate`` does not check, and why (one line each on stderr)."""

    path: Path
    reason: str
    advice: str = "name it on the command line to check it as a manifest"

    def render(self) -> str:
        return f"{self.path}: {self.reason}: skipped; {self.advice}"


def _find(paths: Iterable[str | Path]) -> dict[Path, bool]:
    """Each file found, in order, and whether it was named (not found in a folder)."""
    found: dict[Path, bool] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(
                child
                for child in path.rglob("*")
                if child.suffix in MANIFEST_SUFFIXES
                and child.is_file()
                and not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
            if not inside:
                raise ManifestPathError(f"{given}: no *.yaml or *.yml manifests in this folder")
            for child in inside:
                found.setdefault(child, False)
        elif path.exists():
            found[path] = True
        else:
            raise ManifestPathError(f"{given}: no such file or folder")
    return found


def select_manifests(paths: Iterable[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """The manifests ``validate`` checks, and the YAML files it skips. A folder may hold
    other tools' YAML (a GitHub workflow, a docker-compose file): found there, a file that
    is not a manifest is skipped, saying so. A file named on the command line is checked
    whatever it holds, as the user asked (a sandbox seed file excepted: the sandbox checks
    it), so a manifest whose top-level keys are misspelt still fails."""
    checked: list[Path] = []
    skipped: list[Skipped] = []
    for path, named in _find(paths).items():
        if is_seed_file(path):
            skipped.append(Skipped(path, SEED_FILE, "the sandbox checks it when it loads it"))
        elif not named and (reason := not_a_manifest(path)):
            skipped.append(Skipped(path, reason))
        else:
            checked.append(path)
    return checked, skipped


def not_a_manifest(path: Path) -> str | None:
    """Why a YAML file is not a sailjobs manifest, or ``None`` when it is one or may be
    one: a manifest with mistakes is checked, never skipped, so nothing broken goes unseen.

    A manifest says ``version: 1`` at its top level. Without it, a file is still taken as a
    (broken) manifest when it is empty, does not parse, or holds only manifest keys (or a
    list of a manifest's items); another tool's file has keys a manifest never has (a
    GitHub workflow's ``on``, a docker-compose file's ``services``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # validate reports what is wrong with it
    if _VERSION_1.search(text):
        return None  # the common case, without parsing the file twice
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    if data is None:
        return None  # empty: a manifest not written yet, reported as such
    if isinstance(data, list):
        if any(isinstance(item, dict) and _keys(item) & {"version", "jobs"} for item in data):
            return None  # a manifest written as a list item
        return "not a sailjobs manifest (a list, not a mapping with `version: 1`)"
    if not isinstance(data, dict):
        return "not a sailjobs manifest (a single value, not a mapping with `version: 1`)"
    keys = _keys(data)
    if keys <= MANIFEST_KEYS or _has_sailjobs_jobs(data):
        return None  # a manifest, maybe with a wrong version or a mistyped key: checked
    if "jobs" in keys and {"on", "True"} & keys:  # YAML 1.1 reads `on:` as true
        return "a GitHub Actions workflow (`on:` and `jobs:`), not a sailjobs manifest"
    if "services" in keys:
        return "a Docker Compose file (`services:`), not a sailjobs manifest"
    if "version" in keys:
        return None  # `version: 2`, a typo beside it: a manifest's mistakes, checked
    return "not a sailjobs manifest (no `version: 1` at its top level)"


def _has_sailjobs_jobs(data: dict[object, object]) -> bool:
    """``jobs:`` whose entries name a ``job:`` type, as a manifest's do (a workflow's jobs
    have ``runs-on`` and ``steps``)."""
    jobs = data.get("jobs")
    return isinstance(jobs, dict) and any(
        isinstance(job, dict) and "job" in job for job in jobs.values()
    )


def _keys(mapping: dict[object, object]) -> set[str]:
    return {str(key) for key in mapping}


def is_seed_file(path: Path) -> bool:
    """A sandbox seed file (``--seed FILE``): a YAML mapping of seed sections only, with no
    ``version`` or ``jobs``. ``validate`` skips it, saying so; the sandbox checks it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # validate reports what is wrong with it
    if _MANIFEST_KEY.search(text):
        return False  # a manifest (or a broken one): not parsed twice
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and bool(data) and set(data) <= SEED_SECTIONS


def validate_file(path: Path, *, deep: bool = False) -> list[Problem]:
    """Every problem of one manifest (empty when valid). ``deep`` adds file content checks."""
    try:
        with paused_gc():  # the plan of a big manifest too: see paused_gc
            loaded = load_manifest(path)
            build_plan(loaded)
    except ManifestError as exc:
        return exc.problems
    if not deep:
        return loaded.warnings
    # Each file's problems in job order: a file's totals, then its lines in the data file.
    return sorted(loaded.warnings) + check_manifest_files(loaded, failure=job_type_failure)
