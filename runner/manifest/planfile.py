"""Saved plans: ``sailjobs plan m.yaml --out plan.json`` writes one, ``sailjobs run plan.json``
applies exactly it (the Terraform loop: the plan a reviewer approved is the plan that runs).

What a plan file freezes and what is read again at run time (README: Saved plans):

- frozen: every ``${{ }}`` that can be resolved before the run: ``vars`` (with their
  overrides), ``run.date`` (the logical date) and every filter over it, and the values of
  env variables that are not secrets;
- re-read at run time, kept as their ``${{ }}`` text: env variables that are secrets
  (``runner.masking.is_secret_name`` or the manifest's ``secrets:``), so no secret is ever
  written into the file; ``run.id`` and ``run.started_at``; job outputs.

Applying a plan checks first that nothing it was made from changed: the manifest's and every
referenced file's SHA-256, the plugins and their versions, the sailjobs version, the file's
format version and its checksum (a hand-edited file). Each difference is one line of a
``PlanFileError``; nothing is sent. The checksum detects edits, it does not authenticate:
keep plan files where only your pipeline writes them.

The format is documented by ``docs/plan-file.schema.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.files import file_sha256, write_atomically
from runner.manifest.expressions import (
    EvalContext,
    Expression,
    ExpressionError,
    Reference,
    has_expression,
    parse_template,
    references,
    render,
    truthy,
)
from runner.manifest.filters import to_text
from runner.manifest.inputs import Inputs, inputs_from_data
from runner.manifest.loader import load_manifest
from runner.manifest.models import ActionSpec, JobSpec
from runner.manifest.render import plan_context
from runner.masking import is_secret_name
from runner.plugins import plugin_infos
from runner.problems import ManifestError

if TYPE_CHECKING:
    from runner.manifest.loaded import LoadedManifest
    from runner.manifest.planner import Plan

PLAN_FORMAT = "sailjobs-plan"
PLAN_FORMAT_VERSION = 1
# How much of a file is read to tell a plan file from a manifest: its first key is the marker.
_SNIFF_BYTES = 256
_MARKER = re.compile(rb'\s*\{\s*"format"\s*:\s*"' + PLAN_FORMAT.encode() + rb'"')
_WHEN = ("on_success", "on_failure", "always")
# run fields that only exist once the run starts.
_RUN_TIME_FIELDS = frozenset({"id", "started_at"})
_MAX_VAR_DEPTH = 8


class PlanFileError(Exception):
    """The plan file cannot be applied: one line per reason, each saying what to do."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


# --- freezing ----------------------------------------------------------------------------


class _Freezer:
    """Resolves what is known before the run and keeps the rest as ``${{ }}`` text."""

    def __init__(self, ctx: EvalContext, loaded: LoadedManifest) -> None:
        self.ctx = ctx
        self.loaded = loaded
        self.manifest = loaded.manifest

    def freeze_at(self, path: tuple[str | int, ...], value: Any) -> Any:
        """``freeze``, a failure a ``ManifestError`` at the value's line."""
        try:
            return self.freeze(value)
        except ExpressionError as exc:
            problem = self.loaded.source.problem(path, f"{exc.message} (making the plan file)")
            raise ManifestError([problem]) from None

    def is_deferred(self, reference: Reference, depth: int = 0) -> bool:
        """Whether ``reference`` can only be read at run time (a secret, a job output…)."""
        if reference.root == "jobs":
            return True
        if reference.root == "run":
            return reference.parts[0] in _RUN_TIME_FIELDS
        if reference.root == "env":
            return is_secret_name(reference.parts[0], self.loaded.secret_env_names)
        value: Any = self.manifest.vars
        for part in reference.parts:
            if not isinstance(value, dict) or part not in value:
                return False  # reported as undefined where it is evaluated
            value = value[part]
        if depth > _MAX_VAR_DEPTH:
            return False  # a loop of vars: evaluating it reports it
        return any(self.is_deferred(inner, depth + 1) for inner in references(value))

    def _expression(self, expression: Expression) -> Any:
        if any(self.is_deferred(reference) for reference in expression.references):
            return expression.source
        value = render(expression.source, self.ctx)
        if has_expression(value):
            # Frozen, it would be evaluated at run time: a value could smuggle in a secret.
            raise ExpressionError(
                f"{expression.source} resolves to text holding `${{{{`, which a plan file "
                "cannot keep apart from an expression; change the value"
            )
        return value

    def freeze_condition(self, condition: str | bool | None) -> str | bool | None:
        """An ``if:`` decided now (true or false) when all it reads is known now; kept as
        its ``${{ }}`` text when it reads a job's output or a secret."""
        if not isinstance(condition, str):
            return condition
        frozen = self.freeze(condition)
        return frozen if isinstance(frozen, str) and has_expression(frozen) else truthy(frozen)

    def freeze(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: self.freeze(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.freeze(item) for item in value]
        if not isinstance(value, str) or not has_expression(value):
            return _plain(value)
        template = parse_template(value)
        if template.is_single_expression:
            return _plain(self._expression(template.expressions[0]))
        return "".join(
            part if isinstance(part, str) else _text(self._expression(part))
            for part in template.parts
        )


def _plain(value: Any) -> Any:
    """A resolved value as JSON holds it: dates as the API receives them (ISO text)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()  # as runner.sailthru.wire sends it
    return value


def _shown(path: Path) -> str:
    """A path as a message shows it: relative when the user gave it so or it is under the
    current folder, else absolute (never a climb of ``../..``)."""
    if not path.is_absolute():
        return os.path.normpath(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else to_text(value)


def _actions(
    freezer: _Freezer, loaded: LoadedManifest, specs: list[ActionSpec]
) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "settings": _settings(freezer, loaded, spec),
            "continue_on_error": spec.continue_on_error,
            "if": freezer.freeze_condition(spec.condition),
        }
        for spec in specs
    ]


def _settings(freezer: _Freezer, loaded: LoadedManifest, spec: ActionSpec) -> dict[str, Any]:
    """An action's settings frozen, but its credential settings (a chat webhook) kept as
    written: their values are secrets whatever the env variable they come from is named."""
    action_type = loaded.action_types.get(spec.name)
    credentials = action_type.settings_model.credential_fields() if action_type else frozenset()
    return {
        key: value if key in credentials else freezer.freeze_at((*spec.path, key), value)
        for key, value in spec.settings.items()
    }


def _env_names(loaded: LoadedManifest) -> list[str]:
    """Every env variable the manifest's expressions read (through vars too), by name."""
    found: set[str] = set()
    pending = [ref for _, ref in loaded.reference_paths]
    seen: set[Reference] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if ref.root == "env":
            found.add(ref.parts[0])
        elif ref.root == "vars" and ref.parts[0] in loaded.manifest.vars:
            pending.extend(references(loaded.manifest.vars[ref.parts[0]]))
    return sorted(found)


def _still_read(data: Mapping[str, Any]) -> list[str]:
    """The env variables the frozen plan still reads (the secrets), through its vars too."""
    found = references([data["jobs"], data["notify"]])
    for ref in list(found):
        if ref.root == "vars":
            found |= references(data["vars"].get(ref.parts[0]))
    return sorted({ref.parts[0] for ref in found if ref.root == "env"})


def _referenced_files(loaded: LoadedManifest, jobs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The files on disk that the frozen ``file``/``url`` parameters name, with their hashes."""
    files = []
    for job in jobs:
        job_type = loaded.job_types[job["job"]]
        for param in (*job_type.file_params, "url"):
            value = job["params"].get(param)
            if not isinstance(value, str) or not value or has_expression(value):
                continue
            on_disk = loaded.directory / value
            if on_disk.is_file():
                files.append(
                    {
                        "job": job["id"],
                        "param": param,
                        "path": value,
                        "sha256": file_sha256(on_disk),
                    }
                )
    return files


def _plugins() -> list[dict[str, str]]:
    return sorted(
        ({"name": info.name, "version": info.version} for info in plugin_infos()),
        key=lambda plugin: plugin["name"],
    )


def _inputs(plan: Plan) -> dict[str, Any]:
    """The command line's inputs (``--var``s, ``--date``, ``--target``) and selection."""
    return {
        **plan.loaded.inputs.as_data(),
        "select": list(plan.selection.select),
        "exclude": list(plan.selection.exclude),
    }


def plan_file_data(
    plan: Plan,
    plan_path: Path,
    env: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The content of a plan file written at ``plan_path`` (its checksum included)."""
    loaded = plan.loaded
    manifest = loaded.manifest
    ctx = plan_context(plan, env, now)
    freezer = _Freezer(ctx, loaded)
    jobs = [
        {
            "id": job_id,
            "job": planned.spec.job,
            "needs": sorted(planned.needs),
            "if": freezer.freeze_condition(planned.spec.condition),
            "params": {
                key: freezer.freeze_at(("jobs", job_id, key), value)
                for key, value in planned.spec.params.items()
            },
            "actions": {
                when: _actions(freezer, loaded, getattr(planned.spec, when)) for when in _WHEN
            },
        }
        for job_id, planned in plan.jobs.items()
    ]
    env_read = _env_names(loaded)
    data: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "format_version": PLAN_FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sailjobs_version": __version__,
        "plugins": _plugins(),
        "manifest": {
            "path": Path(
                os.path.relpath(loaded.path.resolve(), plan_path.resolve().parent)
            ).as_posix(),
            "name": manifest.name,
            "sha256": file_sha256(loaded.path),
        },
        "files": _referenced_files(loaded, jobs),
        "inputs": _inputs(plan),
        # Jobs not selected whose outputs the plan's jobs read: the run each comes from.
        "borrowed": {job_id: found.run_id for job_id, found in plan.borrowed_from.items()},
        "run_date": _text(ctx.run["date"]),
        "env": {"read": env_read, "re_read_at_run_time": []},
        "vars": {
            name: freezer.freeze_at(("vars", name), value) for name, value in manifest.vars.items()
        },
        "levels": plan.levels,
        "jobs": jobs,
        "notify": {
            when: _actions(freezer, loaded, getattr(manifest.notify, when)) for when in _WHEN
        },
    }
    data["env"]["re_read_at_run_time"] = _still_read(data)
    data["checksum"] = checksum(data)
    return data


def checksum(data: Mapping[str, Any]) -> str:
    """The SHA-256 of the content without its ``checksum`` key, in a canonical JSON form."""
    content = {key: value for key, value in data.items() if key != "checksum"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def write_plan_file(path: Path, data: Mapping[str, Any]) -> None:
    """Written atomically: a pipeline never applies a half-written plan."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    write_atomically(path, text.encode(), mode=0o644)


# --- reading and checking ----------------------------------------------------------------


def is_plan_file(path: Path) -> bool:
    """Whether ``path`` holds a plan file (by content: a JSON object whose first key is the
    format marker, as ``write_plan_file`` writes it, indented or not), not a manifest."""
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _MARKER.match(head) is not None


@dataclasses.dataclass(frozen=True)
class SavedPlan:
    path: Path
    data: dict[str, Any]

    @property
    def manifest_path(self) -> Path:
        return self.path.parent / self.data["manifest"]["path"]

    def remake_command(self) -> str:
        """The command that makes this plan again, as the user would type it here."""
        manifest = _shown(self.manifest_path)
        inputs = self.data.get("inputs") or {}
        parts = ["sailjobs", "plan", manifest, *inputs_from_data(inputs).args()]
        for option in ("select", "exclude"):
            parts += [arg for value in inputs.get(option) or () for arg in (f"--{option}", value)]
        parts += ["--out", _shown(self.path)]
        return " ".join(shlex.quote(part) for part in parts)

    def inputs(self) -> Inputs:
        """The inputs the plan was made with: the run's identity in the state is the one a
        run of the manifest with them has (``run.date`` itself is frozen in the values)."""
        return inputs_from_data(self.data.get("inputs") or {})


def read_plan_file(path: Path) -> SavedPlan:
    """The plan file at ``path``, its format and checksum checked (``PlanFileError``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError([f"{path}: cannot read the plan file ({exc})"]) from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError([f'{path}: not a sailjobs plan file (no "format": "{PLAN_FORMAT}")'])
    saved = SavedPlan(path, data)
    version = data.get("format_version")
    if version != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            [
                f"{path}: plan file format version {version!r}; this sailjobs "
                f"({__version__}) reads version {PLAN_FORMAT_VERSION}; "
                + _remake(saved, guess=True)
            ]
        )
    if data.get("checksum") != checksum(data):
        raise PlanFileError(
            [
                f"{path}: the plan file was edited after it was made (its checksum does not "
                f"match its content); {_remake(saved)}"
            ]
        )
    return saved


def _remake(saved: SavedPlan, guess: bool = False) -> str:
    try:
        return f"make a new plan: `{saved.remake_command()}`"
    except (KeyError, TypeError):
        if guess:
            return "make a new plan with `sailjobs plan MANIFEST --out PLAN`"
        raise


def changes(saved: SavedPlan) -> list[str]:
    """What changed since the plan was made, one line each (empty: it can be applied).
    Checked before the manifest is loaded: a changed manifest may no longer load at all."""
    data, advice = saved.data, _remake(saved)
    lines = []
    manifest_path = saved.manifest_path
    if not manifest_path.is_file():
        return [
            f"{saved.path}: the manifest it was made from, {_shown(manifest_path)}, is not "
            "there; apply the plan in the checkout it was made in (paths are relative to the "
            "plan file)"
        ]
    if file_sha256(manifest_path) != data["manifest"]["sha256"]:
        lines.append(
            f"{_shown(manifest_path)} changed since the plan {saved.path} was made; {advice}"
        )
    for entry in data["files"]:
        on_disk = manifest_path.parent / entry["path"]
        shown = _shown(on_disk)
        where = f"(jobs.{entry['job']}.{entry['param']})"
        if not on_disk.is_file():
            lines.append(f"{shown} {where} is gone since the plan was made; {advice}")
        elif file_sha256(on_disk) != entry["sha256"]:
            lines.append(f"{shown} {where} changed since the plan was made; {advice}")
    then = {plugin["name"]: plugin["version"] for plugin in data["plugins"]}
    now = {plugin["name"]: plugin["version"] for plugin in _plugins()}
    for name in sorted(then.keys() | now.keys()):
        if name not in now:
            lines.append(f"plugin {name} {then[name]} was installed when the plan was made "
                         f"and is not now; install it again, or {advice}")  # fmt: skip
        elif name not in then:
            lines.append(f"plugin {name} {now[name]} was installed since the plan was made; "
                         f"{advice}")  # fmt: skip
        elif then[name] != now[name]:
            lines.append(f"plugin {name} is {now[name]} now, {then[name]} when the plan was "
                         f"made; {advice}")  # fmt: skip
    if data["sailjobs_version"] != __version__:
        lines.append(f"sailjobs is {__version__} now, {data['sailjobs_version']} when the plan "
                     f"was made; {advice}")  # fmt: skip
    return lines


def apply(saved: SavedPlan, loaded: LoadedManifest) -> tuple[LoadedManifest, list[str]]:
    """The manifest as the plan froze it (vars, params and action settings replaced by the
    planned ones) and the jobs the plan runs."""
    data, manifest = saved.data, loaded.manifest
    planned = {job["id"]: job for job in data["jobs"]}

    def actions(frozen: dict[str, Any], specs: Any) -> dict[str, list[ActionSpec]]:
        return {
            when: [
                spec.model_copy(update={"settings": item["settings"], "condition": item["if"]})
                for spec, item in zip(getattr(specs, when), frozen[when], strict=True)
            ]
            for when in _WHEN
        }

    jobs = {
        job_id: spec.model_copy(
            update={
                "params": planned[job_id]["params"],
                "condition": planned[job_id]["if"],
                **actions(planned[job_id]["actions"], spec),
            }
        )
        if job_id in planned
        else spec
        for job_id, spec in manifest.jobs.items()
    }
    notify = manifest.notify.model_copy(update=actions(data["notify"], manifest.notify))
    frozen = manifest.model_copy(update={"vars": data["vars"], "jobs": jobs, "notify": notify})
    applied = dataclasses.replace(
        loaded,
        manifest=frozen,
        # What the frozen jobs still read at run time (secrets, job outputs, in values and
        # conditions): what a run asks the environment for, and the graph's implicit edges.
        job_references={job_id: _still_referenced(spec) for job_id, spec in jobs.items()},
        notify_references=references([_read_at_run_time(a) for _, a in notify.all()]),
        frozen_run_date=date.fromisoformat(data["run_date"]),
    )
    return applied, list(planned)


def _read_at_run_time(spec: JobSpec | ActionSpec) -> list[Any]:
    """What a frozen job or action still resolves when it runs: its values, and its
    condition when the plan could not decide it."""
    values = spec.params if isinstance(spec, JobSpec) else spec.settings
    return [values, spec.condition if isinstance(spec.condition, str) else None]


def _still_referenced(spec: JobSpec) -> set[Reference]:
    return references(
        [_read_at_run_time(spec), [_read_at_run_time(a) for _, a in spec.actions.all()]]
    )


def load_saved_plan(path: Path) -> tuple[LoadedManifest, list[str], SavedPlan]:
    """Read a plan file, check nothing changed since, load its manifest and apply the plan;
    ``PlanFileError`` (every change, one line each) or ``ManifestError``."""
    saved = read_plan_file(path)
    try:
        lines = changes(saved)
        if lines:
            raise PlanFileError(lines)
        loaded = load_manifest(saved.manifest_path, inputs=saved.inputs())
        return (*apply(saved, loaded), saved)
    except (KeyError, TypeError, ValueError) as exc:  # a checksummed file, made by hand
        raise PlanFileError(
            [f"{path}: not a complete plan file ({type(exc).__name__}: {exc}); "
             f"{_remake(saved, guess=True)}"]
        ) from None  # fmt: skip
