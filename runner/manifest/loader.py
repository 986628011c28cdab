"""Load a manifest: YAML with positions → validated models, EVERY problem found in one pass.

``load_manifest`` checks the YAML, the top level, each job's runner keys and API
parameters (the job type's model and its local checks), the action lists against the
installed action types, every ``${{ }}`` expression (``if:`` included), and the job graph
(unknown needs, cycles, unknown outputs). A job with ``for_each`` is expanded first into one
job per value (``export-lists[VIP]``, its ``each.*`` written in), each checked like a job
written out; what they share is reported once, at the line it is written on. A bad parameter in one job never hides a cycle elsewhere: only a
YAML syntax error stops the pass.

The one pass over the data (``ManifestLoader``) collects every problem and raises none;
``load_manifest`` raises them together as a ``ManifestError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.actions import ActionSettings, ActionType
from runner.jobtypes import CheckContext, JobType
from runner.manifest.expressions import (
    CLOSE,
    OPEN,
    EvalContext,
    ExpressionError,
    Reference,
    bind_each,
    has_expression,
    iter_templates,
    parse_template,
    render,
)
from runner.manifest.inputs import Inputs, undeclared_problems
from runner.manifest.loaded import LoadedManifest, action_type_map
from runner.manifest.models import (
    ACTION_LISTS,
    JOB_ID_PATTERN,
    NAME_PATTERN,
    NOTIFY_KEYS,
    RUNNER_KEYS,
    ActionLists,
    ActionSpec,
    Defaults,
    JobRunnerKeys,
    JobSpec,
    Manifest,
    ManifestHeader,
    PollPolicy,
    RetryPolicy,
    Target,
    validation_messages,
)
from runner.manifest.names import did_you_mean
from runner.manifest.planner import check_graph
from runner.manifest.resolved import resolve_known, resolved_model_problems
from runner.manifest.yamlsource import PathTuple, SourceMap, load_yaml_file, paused_gc
from runner.plugins import job_type_failure, unknown_action_hint
from runner.plugins import job_types as installed_job_types
from runner.problems import ManifestError, Problem

_JOB_ID = re.compile(JOB_ID_PATTERN)
_VAR_NAME = re.compile(NAME_PATTERN)
_HEADER_KEYS = list(ManifestHeader.model_fields)
_MAY_BE_EMPTY = ("description", "vars", "defaults", "secrets", "targets")


class ManifestLoader:
    """One pass over one manifest's data, collecting problems."""

    def __init__(
        self,
        path: Path,
        source: SourceMap,
        job_types: dict[str, JobType],
        action_types: dict[str, ActionType],
        inputs: Inputs | None = None,
    ) -> None:
        self.path = path
        self.inputs = inputs or Inputs()
        self.source = source
        self.job_types = job_types
        self.action_types = action_types
        self.problems: list[Problem] = []
        # (owner, reference) → the first path it appears at; the owner is a job id, or
        # "notify" / "vars" / "defaults" outside jobs.
        self.ref_paths: dict[tuple[str, Reference], PathTuple] = {}
        # defaults.report_email / postback_url → their references (parsed once, for all jobs)
        self.inherited_refs: dict[str, set[Reference]] = {}
        # Long texts without an expression, by id: aliases share them, scanned once
        self.plain_texts: set[int] = set()
        self.vars: dict[str, Any] = {}  # the manifest's vars, once read
        # A for_each job's id → its instances' ids (``export-lists[VIP]``, …)
        self.families: dict[str, list[str]] = {}
        self.each_unbound: set[str] = set()  # for_each jobs checked as written (bad values)

    def add(self, path: PathTuple, message: str, *, key: bool = False) -> None:
        self.problems.append(self.source.problem(path, message, key=key))

    def add_validation(
        self,
        exc: ValidationError,
        data: Any,
        base: PathTuple,
        allowed: list[str],
        *,
        skip_expressions: bool = False,
        model: type[BaseModel] | None = None,
    ) -> None:
        for path, message, key in validation_messages(
            exc, data, allowed=allowed, skip_expressions=skip_expressions, model=model
        ):
            self.add((*base, *path), message, key=key)

    # --- expressions ---------------------------------------------------------------------

    def parse_expressions(self, value: Any, base: PathTuple) -> set[Reference]:
        found: set[Reference] = set()
        for path, text in iter_templates(value, base, self.plain_texts):
            try:
                template = parse_template(text)
            except ExpressionError as exc:
                self.problems.append(self._expression_problem(path, text, exc))
                continue
            for expression in template.expressions:
                for ref in expression.references:
                    found.add(ref)
                    self.ref_paths.setdefault((owner_of(path), ref), path)
        return found

    def _expression_problem(self, path: PathTuple, text: str, exc: ExpressionError) -> Problem:
        shown = text if len(text) <= 100 else text[:97] + "..."  # one readable line
        return self.source.problem(path, f"{exc.message} (in {shown!r})", offset=exc.offset)

    def add_at_reference(self, owner: str, ref: Reference, message: str) -> None:
        path = self.ref_paths.get((owner, ref), (owner,))
        self.problems.append(self.source.problem(path, message, offset=ref.offset))

    # --- the whole document --------------------------------------------------------------

    def load(self, data: Any) -> LoadedManifest | None:
        if data is None:
            self.add((), "the file is empty; a manifest starts with `version: 1`")
            return None
        if not isinstance(data, dict):
            kind = "a list" if isinstance(data, list) else f"a single value ({data!r:.40})"
            self.add((), f"a manifest is a mapping (key: value lines), not {kind}")
            return None
        header = self._header(data)
        defaults = header.defaults if header else self._defaults_fallback(data.get("defaults"))
        vars_: dict[str, Any] = data["vars"] if isinstance(data.get("vars"), dict) else {}
        targets = header.targets if header else {}
        self._check_targets(targets, vars_)
        vars_ = self._with_inputs(vars_, targets)
        self._check_vars(vars_)
        self.vars = vars_
        inherited = {
            key: value
            for key in ("report_email", "postback_url")
            if (value := getattr(defaults, key)) is not None
        }
        for key, value in inherited.items():
            self.inherited_refs[key] = self.parse_expressions(value, ("defaults", key))
        for ref in set().union(*self.inherited_refs.values()):
            if ref.root == "jobs":
                self.add_at_reference(
                    "defaults",
                    ref,
                    f"defaults may read vars.*, env.* and run.*, not {ref} "
                    "(every job would wait for that job, itself included)",
                )

        jobs_data: dict[str, Any] = data["jobs"] if isinstance(data.get("jobs"), dict) else {}
        instances = [
            instance
            for job_id, job_data in jobs_data.items()
            for instance in self._expand(str(job_id), job_data)
        ]
        specs: dict[str, JobSpec] = {}
        job_refs: dict[str, set[Reference]] = {}
        for instance in instances:
            spec, refs = self._job(instance, defaults)
            if spec is not None:
                specs[spec.id] = spec
                job_refs[spec.id] = refs
        notify, notify_refs = self._notify(data.get("notify"))
        self._check_each_outside_for_each()

        manifest = Manifest.model_construct(
            version=1,
            name=header.name if header else str(data.get("name", "")),
            description=header.description if header else None,
            vars=vars_,
            defaults=defaults,
            concurrency=header.concurrency if header else 4,
            fail_fast=header.fail_fast if header else False,
            jobs=specs,
            notify=notify,
            secrets=frozenset(header.secrets) if header else frozenset(),
            targets=targets,
        )
        loaded = LoadedManifest(
            path=self.path,
            manifest=manifest,
            source=self.source,
            job_types=self.job_types,
            action_types=self.action_types,
            job_references=job_refs,
            notify_references=notify_refs,
            reference_paths=self.ref_paths,
            inputs=self.inputs,
            families=self.families,
        )
        self.problems.extend(check_graph(loaded))
        if self.families:
            self.problems = _without_repeats(self.problems, self.families)
        return loaded

    # --- for_each ------------------------------------------------------------------------

    def _expand(self, job_id: str, data: Any) -> list[_Instance]:
        """One job, or one instance per value of its ``for_each`` (``export-lists[VIP]``),
        each with ``each.value`` and ``each.index`` written into its text."""
        if not isinstance(data, dict) or data.get("for_each") is None:
            return [_Instance(job_id, data, data)]
        values = self._for_each_values(job_id, data["for_each"])
        if not values:  # its problems are reported: the job is still checked, once
            rest = {key: value for key, value in data.items() if key != "for_each"}
            return [_Instance(job_id, rest, data, each_unbound=True)]
        self.families[job_id] = []
        instances = []
        for index, value in enumerate(values):
            instance_id = f"{job_id}[{value}]"
            self.families[job_id].append(instance_id)
            self.source.job_aliases[instance_id] = job_id
            bound = bind_each(_with_wrapped_if(data), value, index)
            if isinstance(data.get("if"), str) and OPEN not in data["if"]:
                bound["if"] = _unwrapped(bound["if"])  # still bare, or decided
            instances.append(_Instance(instance_id, bound, data, family=job_id, each=value))
        return instances

    def _for_each_values(self, job_id: str, raw: Any) -> list[str | int]:
        """The values of a ``for_each`` (written out, or one ``${{ vars.x }}``), or none
        when they cannot make jobs (each problem reported at its line)."""
        path: PathTuple = ("jobs", job_id, "for_each")
        values = raw
        if isinstance(raw, str):
            template = parse_template(raw) if OPEN in raw else None
            refs = template.expressions[0].references if template else ()
            if (
                template is None
                or not template.is_single_expression
                or any(ref.root != "vars" for ref in refs)
            ):
                self.add(
                    path,
                    f"for_each is a list of values (e.g. [Newsletter, VIP]) or one "
                    f"${{{{ vars.<name> }}}} holding a list, known before the run; got {raw!r}",
                )
                return []
            try:
                values = render(raw, EvalContext(vars=self.vars))
            except ExpressionError as exc:
                self.add(path, f"for_each: {exc.message}")
                return []
            if not isinstance(values, list):
                self.add(path, f"for_each: {raw.strip()} is {_short(values)}, not a list of values")
                return []
        if not isinstance(values, list):
            self.add(
                path,
                "for_each is a list of values (e.g. [Newsletter, VIP]) or one "
                f"${{{{ vars.<name> }}}} holding a list; got {_short(values)}",
            )
            return []
        if not values:
            self.add(path, "for_each lists no values; list at least one, or remove the job")
            return []
        if len(values) > MAX_FOR_EACH_VALUES:
            self.add(
                path,
                f"for_each lists {len(values):,} values; one job makes at most "
                f"{MAX_FOR_EACH_VALUES:,} (the API takes 40 jobs a minute: that is 25 minutes of "
                "submissions); split the list across jobs or manifests",
            )
            return []
        made = sum(map(len, self.families.values()))
        if made + len(values) > MAX_INSTANCES:
            self.add(
                path,
                f"for_each jobs make {made + len(values):,} jobs with this one, more than "
                f"{MAX_INSTANCES:,} in one manifest; split it into several manifests",
            )
            return []
        good: list[str | int] = []
        seen: set[str] = set()
        written_out = values is raw
        for index, value in enumerate(values):
            where: PathTuple = (*path, index) if written_out else path
            if not isinstance(value, str | int) or isinstance(value, bool):
                self.add(where, f"a for_each value is text or a whole number, not {_short(value)}")
            elif not _EACH_VALUE.match(str(value)):
                self.add(
                    where,
                    f"for_each value {value!r} cannot be part of a job id ({job_id}[…]); use "
                    "letters, digits, spaces, '.', '_' and '-', at most 64, starting and ending "
                    "with a letter or digit",
                )
            elif str(value) in seen:
                self.add(
                    where,
                    f"for_each lists {value!r} twice; each value makes one job "
                    f"({job_id}[{value}]), list it once",
                )
            else:
                seen.add(str(value))
                good.append(value)
        return good if len(good) == len(values) else []

    def _check_each_outside_for_each(self) -> None:
        """``each.*`` left after expansion: read where no for_each gives it a value."""
        for (owner, ref), _ in list(self.ref_paths.items()):
            if ref.root == "each" and owner not in self.each_unbound:
                self.add_at_reference(
                    owner,
                    ref,
                    f"{ref} is read only in a job with for_each (the value of one instance)",
                )

    def _header(self, data: dict[str, Any]) -> ManifestHeader | None:
        """The top-level keys (jobs and notify only by type: they are read on their own)."""
        # An empty `vars:`, `defaults:` or `description:` (null) is like leaving it out.
        header_data = {
            key: value
            for key, value in data.items()
            if key not in ("jobs", "notify") and not (value is None and key in _MAY_BE_EMPTY)
        }
        jobs_raw = data.get("jobs")
        header_data["jobs"] = jobs_raw if isinstance(jobs_raw, dict) else {}
        if data.get("notify") is not None:
            header_data["notify"] = data["notify"]
        try:
            header: ManifestHeader | None = ManifestHeader.model_validate(header_data)
        except ValidationError as exc:
            self.add_validation(exc, header_data, (), _HEADER_KEYS, model=ManifestHeader)
            header = None
        if "jobs" not in data:
            self.add(("jobs",), "missing required key 'jobs' (job id → job)")
        elif jobs_raw is None or jobs_raw == {}:
            self.add(("jobs",), "no jobs; add at least one job under `jobs`")
        elif not isinstance(jobs_raw, dict):
            self.add(("jobs",), "`jobs` is a mapping of job id to job, not a list or a value")
        version = data.get("version")
        if "version" in data and (type(version) is not int or version != 1):
            self.problems = [p for p in self.problems if p.path != "version"]
            self.add(
                ("version",), f"unsupported version {version!r}; this sailjobs reads `version: 1`"
            )
        return header

    def _defaults_fallback(self, raw: Any) -> Defaults:
        """Defaults to carry on with when the header is invalid (its problems are reported)."""
        if isinstance(raw, dict):
            try:
                return Defaults.model_validate(raw)
            except ValidationError:
                pass
        return Defaults()

    def _check_targets(self, targets: Mapping[str, Target], vars_: dict[str, Any]) -> None:
        for name, target in targets.items():
            for var in target.vars:
                if var not in vars_:
                    self.add(
                        ("targets", name, "vars", var),
                        f"target {name!r} sets {var!r}, which is not a var of this manifest; "
                        f"declared vars: {', '.join(sorted(map(str, vars_))) or 'none'}",
                        key=True,
                    )

    def _with_inputs(self, vars_: dict[str, Any], targets: Mapping[str, Target]) -> dict[str, Any]:
        """The manifest's vars with the chosen target's and the command line's overrides."""
        chosen = self.inputs.target
        merged = dict(vars_)
        if chosen is not None:
            if chosen in targets:
                merged.update((k, v) for k, v in targets[chosen].vars.items() if k in vars_)
            else:
                self.problems.append(self._unknown_target(chosen, targets))
        self.problems.extend(undeclared_problems(self.inputs, vars_, self.source, str(self.path)))
        merged.update(self.inputs.vars_over(vars_))
        return merged

    def _unknown_target(self, chosen: str, targets: Mapping[str, Target]) -> Problem:
        if not targets:
            return self.source.problem(
                (),
                f"--target {chosen}: this manifest declares no `targets`; add "
                f"`targets: {{{chosen}: {{api_key_env: …, api_secret_env: …}}}}` or leave "
                "out --target",
            )
        return self.source.problem(
            ("targets",),
            f"--target {chosen}: no such target; {did_you_mean(chosen, targets)}"
            f"targets: {', '.join(targets)}",
            key=True,
        )

    def _check_vars(self, vars_: dict[str, Any]) -> None:
        for name in vars_:
            if not _VAR_NAME.match(str(name)):
                self.add(
                    ("vars", name),
                    f"invalid variable name {name!r}; use letters, digits, '_' and '-'",
                    key=True,
                )
        refs = self.parse_expressions(vars_, ("vars",))
        for ref in refs:
            if ref.root not in ("env", "run"):
                self.add_at_reference("vars", ref, f"vars may read env.* and run.* only, not {ref}")

    # --- one job ------------------------------------------------------------------------

    def _job(
        self, instance: _Instance, defaults: Defaults
    ) -> tuple[JobSpec | None, set[Reference]]:
        job_id, data = instance.id, instance.data
        base: PathTuple = ("jobs", job_id)
        if instance.each_unbound:
            self.each_unbound.add(job_id)
        if not _JOB_ID.match(instance.family or job_id):
            self.add(
                base,
                f"invalid job id {job_id!r}; use lower-case words joined by '-' or '_' "
                "(e.g. export-main)",
                key=True,
            )
        if not isinstance(data, dict):
            self.add(base, "a job is a mapping with at least `job: <type>`")
            return None, set()
        runner_data = {key: value for key, value in data.items() if key in RUNNER_KEYS}
        params = {key: value for key, value in data.items() if key not in RUNNER_KEYS}
        job_type = None
        try:
            keys = JobRunnerKeys.model_validate(runner_data)
        except ValidationError as exc:
            self.add_validation(exc, runner_data, base, sorted(RUNNER_KEYS), model=JobRunnerKeys)
            keys = None
        job_name = data.get("job")
        if isinstance(job_name, str):
            job_type = self.job_types.get(job_name)
            if job_type is None:
                self.add((*base, "job"), _unknown_job_type(job_name, self.job_types))

        timeout, retry, poll = defaults.timeout, defaults.retry, defaults.poll
        if keys is not None:
            timeout = keys.timeout or timeout
            if keys.retry is not None:
                retry = self._merge(RetryPolicy, retry, keys.retry, (*base, "retry"))
            if keys.poll is not None:
                poll = self._merge(PollPolicy, poll, keys.poll, (*base, "poll"))
        refs = self.parse_expressions(params, base)  # its own; inherited ones were parsed once
        for name in ("report_email", "postback_url"):
            value = getattr(defaults, name)
            if value is not None and name not in params:
                params[name] = value
                refs |= {ref for ref in self.inherited_refs[name] if ref.root != "jobs"}

        if job_type is not None:
            self._check_params(job_type, params, base, bool(keys and keys.split))
            if keys is not None and keys.split and job_type.splitter is None:
                splittable = sorted(name for name, t in self.job_types.items() if t.splitter)
                self.add(
                    (*base, "split"),
                    f"`split` applies to job types that can run in parts "
                    f"({', '.join(splittable)}), not {job_type.name}",
                )
            self._check_confirm(job_type, keys, base, params)
            if "preflight" in runner_data and not job_type.file_params:
                self.add(
                    (*base, "preflight"),
                    f"`preflight` checks the file a job uploads; {job_type.name} uploads none: "
                    "remove it",
                )
        condition, condition_refs = self._condition(data.get("if"), (*base, "if"))
        refs |= condition_refs
        own = {instance.family, job_id}
        for ref in refs:
            if ref.root == "jobs" and ref.parts[0] in own:
                where = "its if:" if ref in condition_refs else "its parameters"
                self.add_at_reference(
                    job_id,
                    ref,
                    f"a job cannot read its own outputs ({ref}) in {where}; "
                    "use them in its on_success/always actions",
                )
        actions: dict[str, list[ActionSpec]] = {}
        for when in ACTION_LISTS:
            raw = data.get(when)
            actions[when], action_refs = self._actions(raw, (*base, when), job_type)
            refs |= action_refs
        needs = data.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        needs = [str(need) for need in needs] if isinstance(needs, list) else []
        written_if = instance.written.get("if") if isinstance(instance.written, dict) else None
        spec = JobSpec.model_construct(
            id=job_id,
            job=job_name if isinstance(job_name, str) else "",
            params=params,
            # `needs: export-lists` waits for every instance of a for_each job
            needs=[one for need in needs for one in self.families.get(need, [need])],
            timeout=timeout,
            retry=retry,
            poll=poll,
            preflight=keys.preflight if keys else "on",
            split=keys.split if keys else False,
            confirm=keys.confirm if keys else False,
            tags=list(keys.tags) if keys else [],
            on_success=actions["on_success"],
            on_failure=actions["on_failure"],
            always=actions["always"],
            condition=condition,
            condition_text=None if written_if is None else str(written_if),
            family=instance.family,
            each=instance.each,
        )
        return spec, refs

    def _condition(self, raw: Any, path: PathTuple) -> tuple[str | bool | None, set[Reference]]:
        """An ``if:`` as a ``${{ }}`` text (written bare, ``vars.env == 'prod'``, or in
        ``${{ }}``), or true/false when already known; and what it reads."""
        if raw is None or isinstance(raw, bool):
            return raw, set()
        if not isinstance(raw, str):
            return None, set()  # reported by the model of its keys
        text = raw if OPEN in raw else f"{OPEN}{raw}{CLOSE}"
        shift = 0 if OPEN in raw else len(OPEN)  # positions are in the text as written
        try:
            template = parse_template(text)
        except ExpressionError as exc:
            self.add_expression_error(path, raw, exc, shift)
            return None, set()
        if not template.is_single_expression:
            self.add(
                path,
                "if: is one expression, e.g. `if: vars.env == 'prod'` or "
                "`if: ${{ vars.env == 'prod' }}`, not text around one",
            )
            return None, set()
        found: set[Reference] = set()
        for ref in template.expressions[0].references:
            ref = replace(ref, offset=ref.offset - shift, end=ref.end - shift)
            found.add(ref)
            self.ref_paths.setdefault((owner_of(path), ref), path)
        return text, found

    def add_expression_error(
        self, path: PathTuple, text: str, exc: ExpressionError, shift: int = 0
    ) -> None:
        moved = ExpressionError(exc.message, max(exc.offset - shift, 0))
        self.problems.append(self._expression_problem(path, text, moved))

    def _merge(
        self, model: type[BaseModel], default: BaseModel, override: BaseModel, path: PathTuple
    ) -> Any:
        values = default.model_dump()
        values.update(override.model_dump(exclude_none=True))
        try:
            return model.model_validate(values)
        except ValidationError as exc:  # only the initial/max check can fail here
            self.add(path, str(exc.errors()[0]["msg"]).removeprefix("Value error, "))
            return default

    def _check_confirm(
        self, job_type: JobType, keys: JobRunnerKeys | None, base: PathTuple, params: Any
    ) -> None:
        """A job type that deletes data runs only when the reviewed manifest says so, and
        deletes what it says: its parameters are written out, so that a ``--var`` or an
        environment variable cannot change what it deletes after the review."""
        if job_type.destructive:
            for path in _expression_paths(params):
                self.add(
                    (*base, *path),
                    f"{job_type.name} deletes data: write this value out in the manifest, not "
                    "as ${{ }} (a --var or an environment variable could change what it "
                    "deletes after the manifest was reviewed)",
                )
        confirmed = bool(keys and keys.confirm)
        if job_type.destructive and not confirmed:
            self.add(
                (*base, "job"),
                f"{job_type.name} deletes data in Sailthru, which cannot be undone; once the "
                "manifest is reviewed, write `confirm: true` on the job to let it run",
            )
        elif confirmed and not job_type.destructive:
            deleting = sorted(name for name, t in self.job_types.items() if t.destructive)
            self.add(
                (*base, "confirm"),
                f"`confirm` is for job types that delete data ({', '.join(deleting) or 'none'}); "
                f"{job_type.name} deletes nothing: remove it",
            )

    def _check_params(
        self, job_type: JobType, params: dict[str, Any], base: PathTuple, split: bool
    ) -> None:
        allowed = sorted(job_type.params_model.model_fields)
        try:
            job_type.params_model.model_validate(params)
        except ValidationError as exc:
            for path, message, key in validation_messages(
                exc, params, allowed=allowed, skip_expressions=True
            ):
                if key:
                    message = message.replace(
                        "unknown key", f"unknown parameter for {job_type.name}:", 1
                    ).replace("allowed:", "parameters:", 1)
                    message += f"; runner keys: {', '.join(sorted(RUNNER_KEYS - {'job'}))}"
                self.add((*base, *path), message, key=key)
        context = CheckContext(manifest_dir=self.path.parent, split=split)
        try:
            checked = list(job_type.check(params, context))
        except Exception as exc:  # a plugin's code: one problem at the job, not a traceback
            self.add((*base, "job"), job_type_failure(job_type.name, "check", exc))
            return
        for problem in checked:
            found = self.source.problem((*base, *problem.path), problem.message)
            self.problems.append(replace(found, severity=problem.severity))

    # --- actions ------------------------------------------------------------------------

    def _actions(
        self, raw: Any, base: PathTuple, job_type: JobType | None
    ) -> tuple[list[ActionSpec], set[Reference]]:
        if raw is None:
            return [], set()
        if not isinstance(raw, list):
            if base[0] == "notify":  # a job's lists are type-checked with its runner keys
                self.add(base, "an action list is a list of `- <action>: {settings}` items")
            return [], set()
        specs, refs = [], set()
        for index, item in enumerate(raw):
            path = (*base, index)
            if not isinstance(item, dict) or len(item) != 1:
                self.add(
                    path,
                    "an action is one `- <name>: {settings}` item, "
                    "e.g. `- download: {path: exports/main.csv}`",
                )
                continue
            ((name, settings),) = item.items()
            action_path = (*path, name)
            settings = {} if settings is None else settings
            if not isinstance(settings, dict):
                self.add(action_path, f"the settings of {name!r} are a mapping (key: value)")
                continue
            settings = dict(settings)
            continue_on_error = settings.pop("continue_on_error", False)
            if not isinstance(continue_on_error, bool):
                self.add(
                    (*action_path, "continue_on_error"),
                    f"expected true or false, got {continue_on_error!r}",
                )
                continue_on_error = False
            condition, condition_refs = self._condition(
                settings.pop("if", None), (*action_path, "if")
            )
            refs |= condition_refs
            action_type = self.action_types.get(name)
            if action_type is None:
                self.add(action_path, unknown_action_hint(name), key=True)
            else:
                self._check_settings(action_type, settings, action_path, job_type)
            refs |= self.parse_expressions(settings, action_path)
            specs.append(
                ActionSpec.model_construct(
                    name=name,
                    settings=settings,
                    continue_on_error=continue_on_error,
                    path=action_path,
                    condition=condition,
                    condition_text=None if condition is None else str(item[name]["if"]),
                )
            )
        return specs, refs

    def _check_settings(
        self,
        action_type: ActionType,
        settings: dict[str, Any],
        path: PathTuple,
        job_type: JobType | None,
    ) -> None:
        model = action_type.settings_model
        allowed = sorted(info.alias or name for name, info in model.model_fields.items())
        try:
            model.model_validate(settings)
        except ValidationError as exc:
            self.add_validation(exc, settings, path, allowed, skip_expressions=True)
        else:
            self._check_resolved_settings(model, settings, path)
        if action_type.needs_export and (job_type is None or not job_type.produces_export):
            if path[0] == "notify":
                where = "`notify` has none (the run has no export of its own)"
            else:
                where = f"{job_type.name} produces none" if job_type else "this job has none"
            exports = ", ".join(
                sorted(name for name, jt in self.job_types.items() if jt.produces_export)
            )
            self.add(
                path,
                f"{action_type.name!r} needs a job that produces an export ({exports}); {where}",
                key=True,
            )

    def _check_resolved_settings(
        self, model: type[ActionSettings], settings: dict[str, Any], path: PathTuple
    ) -> None:
        """Settings whose expressions read only ``vars`` are known now: checked resolved too,
        so `path: "${{ vars.exports }}/x.csv"` leaving the folder is found before the run."""
        static_vars = EvalContext(vars=self.vars)  # no env, run or jobs: those stay unresolved
        resolved = resolve_known(settings, static_vars)
        for where, message, at_key in resolved_model_problems(model, settings, resolved):
            self.add((*path, *where), f"{message} (with vars resolved)", key=at_key)

    def _notify(self, raw: Any) -> tuple[ActionLists, set[Reference]]:
        if raw is None:
            return ActionLists(), set()
        if not isinstance(raw, dict):
            return ActionLists(), set()  # reported by the header model
        lists: dict[str, list[ActionSpec]] = {}
        refs: set[Reference] = set()
        for key in raw:
            if key not in NOTIFY_KEYS:
                self.add(
                    ("notify", key),
                    f"unknown key {key!r}; allowed: {', '.join(ACTION_LISTS)}",
                    key=True,
                )
        for when in ACTION_LISTS:
            lists[when], found = self._actions(raw.get(when), ("notify", when), None)
            refs |= found
        return (
            ActionLists.model_construct(
                on_success=lists["on_success"],
                on_failure=lists["on_failure"],
                always=lists["always"],
            ),
            refs,
        )


# Each instance is a job with its own copy of the job's data: a hostile list must not turn
# one manifest of a few MB into millions of jobs.
MAX_FOR_EACH_VALUES = 1_000
MAX_INSTANCES = 10_000  # the instances of every for_each job of a manifest

# A for_each value as part of a job id: `export-lists[Main Newsletter]`
_EACH_VALUE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class _Instance:
    """A job to load: one written in the manifest, or one instance of a for_each job."""

    id: str
    data: Any  # with each.* written in, for an instance
    written: Any  # as written in the manifest
    family: str | None = None  # the for_each job's id
    each: str | int | None = None
    each_unbound: bool = False  # a for_each job whose values are wrong: checked as written


def _with_wrapped_if(data: dict[str, Any]) -> dict[str, Any]:
    """A job's data without ``for_each``, its bare ``if:`` in ``${{ }}`` (to be bound)."""
    data = {key: value for key, value in data.items() if key != "for_each"}
    condition = data.get("if")
    if isinstance(condition, str) and OPEN not in condition:
        data["if"] = f"{OPEN}{condition}{CLOSE}"
    return data


def _unwrapped(condition: Any) -> Any:
    if isinstance(condition, str) and condition.startswith(OPEN) and condition.endswith(CLOSE):
        return condition[len(OPEN) : -len(CLOSE)]
    return condition


def _without_repeats(problems: list[Problem], families: Mapping[str, Any]) -> list[Problem]:
    """One problem per place and message: what is written once in a for_each job is told
    once, not once per instance, at the job's path (``jobs.export-lists.list``)."""
    kept: dict[tuple[int, int, str], Problem] = {}
    for problem in problems:
        key = (problem.line, problem.col, problem.message)
        first = kept.get(key)
        if first is None:
            kept[key] = problem
        else:
            kept[key] = replace(first, path=_family_path(first.path, families))
    return list(kept.values())


def _family_path(path: str, families: Mapping[str, Any]) -> str:
    """``jobs.export-lists[VIP].list`` → ``jobs.export-lists.list`` (values hold no ``]``)."""
    open_at = path.find("[")
    if not path.startswith("jobs.") or open_at < 0 or path[5:open_at] not in families:
        return path
    return path[:open_at] + path[path.index("]", open_at) + 1 :]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def owner_of(path: PathTuple) -> str:
    """The job id of a path under ``jobs`` (or the top-level key otherwise)."""
    return str(path[1]) if path[:1] == ("jobs",) and len(path) > 1 else str(path[0])


def _unknown_job_type(name: str, job_types: dict[str, JobType]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(job_types), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown job type {name!r}; {hint}job types: {', '.join(sorted(job_types))}"


def _expression_paths(value: Any, path: PathTuple = ()) -> Iterator[PathTuple]:
    """Where a job's parameters hold ``${{ }}``."""
    if isinstance(value, str) and has_expression(value):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expression_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _expression_paths(item, (*path, index))


def load_manifest(
    path: str | Path,
    *,
    job_types: Mapping[str, JobType] | None = None,
    action_types: Mapping[str, Any] | None = None,
    inputs: Inputs | None = None,
) -> LoadedManifest:
    """Read and check one manifest; raises ManifestError with every problem found.

    ``job_types``/``action_types`` default to the installed plugins' ones; ``inputs`` (var
    overrides, the logical date, the target) apply before anything is checked.
    """
    path = Path(path)
    if job_types is None:
        job_types = installed_job_types()
    try:
        document = load_yaml_file(path, str(path))
        if document.data is None and document.problems:
            raise ManifestError(document.problems)
        loader = ManifestLoader(
            path, document.source, dict(job_types), action_type_map(action_types), inputs
        )
        with paused_gc():  # a model and a few dicts per job, none of them garbage yet
            loaded = loader.load(document.data)
    except MemoryError:  # its own text is empty: say what ran out and what to do
        raise ManifestError([_out_of_memory(path)]) from None
    problems = document.problems + _outside(document.rejected, loader.problems)
    if loaded is None or any(problem.is_error for problem in problems):
        raise ManifestError(problems)
    loaded.warnings = sorted(problems)  # only warnings are left: shown, not refusing
    return loaded


def _out_of_memory(path: Path) -> Problem:
    try:
        size = f"{path.stat().st_size / 1024 / 1024:.1f} MB"
    except OSError:
        size = "this file"
    message = (
        f"ran out of memory reading the manifest ({size}); make it smaller (split it into "
        "several manifests, move data into files) or give sailjobs more memory"
    )
    return Problem(str(path), 1, 1, "", message)


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
