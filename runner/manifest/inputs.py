"""What a plan or run is given besides its manifest: var overrides, the logical date, the target.

``--vars-file FILE`` and ``--var name=value`` override the manifest's ``vars`` (after the
chosen target's own ``vars``; a later one wins); ``--date YYYY-MM-DD`` sets ``run.date``, the
logical date a backfill runs for; ``--target NAME`` picks one of the manifest's ``targets``.
Only declared vars can be overridden: a name the manifest does not declare is a problem
(at the option or the vars file's line), never a silent no-op.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from runner.manifest.names import did_you_mean
from runner.manifest.yamlsource import SourceMap, load_yaml_file, load_yaml_text
from runner.problems import ManifestError, Problem

VAR_OPTION = "--var"


@dataclass(frozen=True)
class VarOverride:
    """One overriding value and where it was given: ``--var name=value`` or a vars file."""

    name: str
    value: Any
    # How the user gave it, for messages and the command that repeats it: "--var" for the
    # option, else the vars file's path.
    origin: str = VAR_OPTION
    text: str = ""  # as typed after `=`, for --var (its type follows the declared value)


@dataclass(frozen=True)
class Inputs:
    """The run's inputs besides the manifest; the empty ``Inputs()`` changes nothing."""

    overrides: tuple[VarOverride, ...] = ()
    date: date | None = None
    target: str | None = None
    vars_files: tuple[str, ...] = ()
    # Vars files as read, for problems at their lines (not part of the inputs' identity).
    sources: Mapping[str, SourceMap] = field(default_factory=dict, compare=False, repr=False)

    def vars_over(self, declared: Mapping[str, Any]) -> dict[str, Any]:
        """The overriding values, typed like the declared ones (see ``typed``)."""
        return {
            item.name: typed(item, declared.get(item.name))
            for item in self.overrides
            if item.name in declared
        }

    def args(self) -> list[str]:
        """These inputs as command-line arguments, for the commands advice names."""
        args: list[str] = []
        if self.target:
            args += ["--target", self.target]
        if self.date:
            args += ["--date", self.date.isoformat()]
        args += [arg for file in self.vars_files for arg in ("--vars-file", file)]
        args += [
            arg
            for item in self.overrides
            if item.origin == VAR_OPTION
            for arg in (VAR_OPTION, f"{item.name}={item.text}")
        ]
        return args

    def command_suffix(self) -> str:
        """``args()`` shell-quoted, with a leading space when there are any."""
        return "".join(f" {shlex.quote(arg)}" for arg in self.args())

    def as_data(self) -> dict[str, Any]:
        """For reports and plan files: the target, the date and the overriding values."""
        return {
            "target": self.target,
            "date": self.date.isoformat() if self.date else None,
            "vars": {item.name: item.value for item in self.overrides},
        }


def inputs_from_data(data: Mapping[str, Any]) -> Inputs:
    """``Inputs.as_data()`` back into inputs (from the run state or a plan file): every
    override as a ``--var`` whose text reads back as the same value."""
    overrides = []
    for name, value in (data.get("vars") or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        overrides.append(VarOverride(str(name), value, VAR_OPTION, text))
    day = data.get("date")
    return Inputs(
        tuple(overrides),
        date.fromisoformat(day) if isinstance(day, str) else None,
        data.get("target") or None,
    )


def typed(item: VarOverride, declared: Any) -> Any:
    """A ``--var`` value is text as typed: kept as text where the manifest declares text (or
    an expression), read as a YAML value otherwise (``--var days=3``, ``--var lists=[a, b]``).
    A vars file's values are already typed by YAML."""
    if item.origin != VAR_OPTION or isinstance(declared, str):
        return item.value
    document = load_yaml_text(item.text, VAR_OPTION)
    return item.text if document.problems else document.data


def parse_var(text: str) -> VarOverride:
    """``name=value`` → a VarOverride; ValueError saying how to write it otherwise."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise ValueError(f"{text!r} is not name=value; write e.g. --var list=Newsletter")
    return VarOverride(name.strip(), value, VAR_OPTION, value)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD`` → a date; ValueError saying how to write it otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-05")


def read_vars_file(path: str) -> tuple[list[VarOverride], SourceMap]:
    """A vars file: a YAML mapping of var name → value. ManifestError at its lines otherwise."""
    document = load_yaml_file(Path(path), path)
    if document.problems:
        raise ManifestError(document.problems)
    data = document.data
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ManifestError(
            [Problem(path, 1, 1, "", f"a vars file is a mapping of var name: value, not {kind}")]
        )
    return [VarOverride(str(name), value, path) for name, value in data.items()], document.source


def make_inputs(
    *,
    var_options: tuple[str, ...] = (),
    vars_files: tuple[str, ...] = (),
    date: date | None = None,
    target: str | None = None,
) -> Inputs:
    """The inputs of the command-line options (vars files in order, then ``--var``s).

    Raises ValueError for a bad ``--var`` and ManifestError for a bad vars file."""
    overrides: list[VarOverride] = []
    sources: dict[str, SourceMap] = {}
    for file in vars_files:
        found, source = read_vars_file(file)
        overrides += found
        sources[file] = source
    overrides += [parse_var(text) for text in var_options]
    return Inputs(tuple(overrides), date, target, tuple(vars_files), sources)


def undeclared_problems(
    inputs: Inputs, declared: Mapping[str, Any], manifest: SourceMap, where: str
) -> list[Problem]:
    """One problem per overriding name the manifest does not declare: at the vars file's
    line, or (for ``--var``) at the manifest's ``vars``, where it would be declared."""
    problems = []
    names = ", ".join(sorted(map(str, declared))) or "none"
    for item in inputs.overrides:
        if item.name in declared:
            continue
        message = (
            f"not a var of {where}; {did_you_mean(item.name, [str(k) for k in declared])}"
            f"declared vars: {names} "
            "(only declared vars can be set: declare it under `vars` to make it settable)"
        )
        source = inputs.sources.get(item.origin)
        if source is not None:
            problems.append(source.problem((item.name,), f"{item.name!r} is {message}", key=True))
        else:
            path = ("vars",) if manifest.locate(("vars",))[1] is not None else ()
            problems.append(manifest.problem(path, f"{VAR_OPTION} {item.name}: {message}"))
    return problems
