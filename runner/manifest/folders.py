"""What ``sailjobs validate`` does, as a library: find manifests, collect every problem."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from runner.manifest.loader import load_manifest
from runner.manifest.planner import build_plan
from runner.manifest.yamlsource import paused_gc
from runner.preflight.checks import check_manifest_files
from runner.problems import ManifestError, Problem

MANIFEST_SUFFIXES = (".yaml", ".yml")
# The top-level keys of a sandbox seed file (runner/sandbox/seedfile.py's SECTIONS; a test
# keeps the two equal): such a file lives beside manifests but is not one.
SEED_SECTIONS = frozenset({"lists", "users", "purchases", "scheduled_sends"})
_MANIFEST_KEY = re.compile(r"^(?:version|jobs)\s*:", re.MULTILINE)  # a top-level key
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ManifestPathError(Exception):
    """A path given on the command line that is missing or holds no manifest."""


def find_manifests(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched (recursively) for ``*.yaml``/``*.yml``, in order."""
    found: list[Path] = []
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
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise ManifestPathError(f"{given}: no such file or folder")
    return list(dict.fromkeys(found))


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
    return sorted(loaded.warnings) + check_manifest_files(loaded)
