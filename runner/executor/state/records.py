"""What the run state holds, as the rest of the runner reads it: runs, jobs, actions, and
the keys that name a manifest's runs."""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from runner.jsontypes import JSONDict, JSONValue
from runner.results import JobStatus

SANDBOX_KEY_SUFFIX = "-sandbox"  # a --sandbox run's manifest key (it never resumes a real one)
TARGET_SEPARATOR = "@"  # between a manifest's key and its --target's name
RUN_KEY_SEPARATOR = "#"  # between a manifest's key and its --run-key


@dataclass
class RunRecord:
    run_id: str
    manifest_key: str
    manifest_path: str
    manifest_name: str
    manifest_sha256: str
    started_at: float
    finished_at: float | None
    status: str
    succeeded: bool | None
    inputs: JSONDict = field(default_factory=dict)  # Inputs.as_data() of the run
    host: str | None = None  # the machine that started it (None: recorded before hosts were)
    pid: int | None = None
    run_key: str | None = None  # its --run-key

    @property
    def unfinished(self) -> bool:
        return self.status != "finished"

    @property
    def logical_date(self) -> str | None:
        """The run's ``--date`` (ISO), None when it ran for its start date."""
        value = self.inputs.get("date")
        return value if isinstance(value, str) else None


@dataclass
class JobRecord:
    """One job's row: everything needed to pick it up again in a later process."""

    run_id: str
    job: str
    job_type: str
    status: JobStatus
    remote_job_id: str | None = None
    remote_status: str | None = None
    attempts: int = 0
    polls: int = 0
    params: JSONDict = field(default_factory=dict)
    intent_at: float | None = None
    submitted_at: float | None = None
    finished_at: float | None = None
    outputs: JSONDict = field(default_factory=dict)
    error: str | None = None
    outcome: JobStatus | None = None  # decided (remote terminal, timed out), actions pending
    # A link of its outputs was not kept (runner.executor.state.sealing): a resumed run
    # asks Sailthru for a fresh one.
    withheld: bool = False

    @property
    def ambiguous(self) -> bool:
        """The POST may have been sent but its answer was never recorded."""
        return self.intent_at is not None and self.remote_job_id is None


@dataclass
class ActionRecord:
    owner: str
    phase: str
    idx: int
    name: str
    plugin: str
    succeeded: bool
    attempts: int
    outputs: JSONDict
    error: str | None
    started_at: float | None = None  # epoch seconds
    finished_at: float | None = None


def repository_root(path: Path) -> Path | None:
    """The nearest folder above ``path`` holding ``.git`` (a folder, or a worktree's file)."""
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


def repository_identity(root: Path) -> str:
    """What names a repository on every machine: its ``origin`` remote (``github.com/acme/
    pipelines`` for the https and ssh forms alike); without one, the checkout's own folder
    (a local repository is no other machine's)."""
    origin = _origin_url(root)
    if origin is None:
        return f"local:{root.resolve()}"
    text = re.sub(r"^[a-z+]+://", "", origin.strip())  # https://, ssh://, git+ssh://
    text = text.split("@", 1)[-1]  # user@ (and a token in https://x-token@host/...)
    text = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", text)  # git@host:acme/x → host/acme/x
    text = text.removesuffix("/").removesuffix(".git")
    host, _, rest = text.partition("/")
    return f"{host.lower()}/{rest}"


def _origin_url(root: Path) -> str | None:
    """``remote.origin.url`` from the repository's config (a worktree's ``.git`` file points
    to its git folder, whose ``commondir`` holds the config)."""
    git = root / ".git"
    try:
        if git.is_file():
            gitdir = Path(git.read_text().partition("gitdir:")[2].strip())
            git = gitdir if gitdir.is_absolute() else root / gitdir
            common = git / "commondir"
            if common.is_file():
                git = (git / common.read_text().strip()).resolve()
        config = configparser.ConfigParser(interpolation=None, strict=False)
        config.read(git / "config", encoding="utf-8")
        return config.get('remote "origin"', "url", fallback=None)
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None


def manifest_key(path: Path) -> str:
    """A stable identity for a manifest: its repository (``repository_identity``) and its
    path in it, so the checkout of another machine, in another folder, names the same
    manifest; outside a repository, its resolved path."""
    root = repository_root(path)
    if root is None:
        return legacy_manifest_key(path)
    where = path.resolve().relative_to(root).as_posix()
    return hashlib.sha256(f"{repository_identity(root)}\n{where}".encode()).hexdigest()[:16]


def legacy_manifest_key(path: Path) -> str:
    """The key of sailjobs 0.2 and earlier: the resolved path (a state written then is
    re-keyed on its first run, see ``RunState.rekey``)."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def run_key(
    manifest_path: Path,
    *,
    target: str | None = None,
    sandbox: bool = False,
    run_key: str | None = None,
    legacy: bool = False,
) -> str:
    """The identity of a manifest's runs in the state: the manifest, its ``--run-key`` (one
    manifest run for different dates by different pipelines), its ``--target`` (a staging
    run never resumes as production's) and whether it ran on the embedded sandbox.

    Outside a git checkout a manifest has no name that other machines share, but its file's
    name and a ``--run-key`` given alike on each of them: that names it then."""
    if legacy:
        base = legacy_manifest_key(manifest_path)
    elif run_key and repository_root(manifest_path) is None:
        base = hashlib.sha256(f"named:{manifest_path.name}".encode()).hexdigest()[:16]
    else:
        base = manifest_key(manifest_path)
    return (
        base
        + (f"{RUN_KEY_SEPARATOR}{run_key}" if run_key else "")
        + (f"{TARGET_SEPARATOR}{target}" if target else "")
        + (SANDBOX_KEY_SUFFIX if sandbox else "")
    )


RUN_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}")


def check_run_key(name: str) -> None:
    """ValueError unless ``name`` can be a ``--run-key`` (letters, digits, ``._:+-``, as a
    date or a pipeline's id is written): the state's key keeps it between separators."""
    if not RUN_KEY_PATTERN.fullmatch(name) or name.endswith(SANDBOX_KEY_SUFFIX):
        raise ValueError(
            f"--run-key {name!r}: use letters, digits and . _ : + - (up to 100, not ending "
            f"in {SANDBOX_KEY_SUFFIX}), e.g. --run-key 2026-12-03"
        )


def is_run_of(key: str, manifest_path: Path) -> bool:
    """Whether a run recorded under ``key`` is one of this manifest's (any run key, target)."""
    base = manifest_key(manifest_path)
    return key == base or key.startswith(
        tuple(base + mark for mark in (RUN_KEY_SEPARATOR, TARGET_SEPARATOR, SANDBOX_KEY_SUFFIX))
    )


def new_run_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def to_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def dumps(data: Mapping[str, JSONValue]) -> str:
    """A JSON object column's text."""
    return json.dumps(data, sort_keys=True, default=str)


def loads(text: str | None) -> JSONDict:
    """A JSON object column; NULL (a row written before the column existed) is empty."""
    data = json.loads(text) if text else {}
    return data if isinstance(data, dict) else {}
