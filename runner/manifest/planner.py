"""The plan: the DAG of a manifest's jobs, its static checks, and the order they run in.

Edges come from ``needs`` and, implicitly, from ``${{ jobs.X.outputs.Y }}`` references
(a job that reads X's output needs X). ``check_graph`` runs as part of ``load_manifest``
so that its problems are reported with every other one; ``build_plan`` then orders a
valid manifest, or only the jobs a ``Selection`` picks (``runner.manifest.selection``): a
selected job's upstream that is not selected is *borrowed*, its outputs taken from its last
successful run (the executor, which owns the run state, fills ``Plan.borrowed_from``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from yaml.nodes import SequenceNode

from runner.jobtypes import SPLIT_OUTPUTS
from runner.manifest.expressions import ExpressionError, Reference, references
from runner.manifest.names import did_you_mean, listed
from runner.manifest.selection import Selection, select_jobs
from runner.problems import ManifestError, Problem

if TYPE_CHECKING:
    from runner.jobtypes import JobType
    from runner.manifest.loaded import LoadedManifest
    from runner.manifest.models import JobSpec, Manifest


def dependencies(loaded: LoadedManifest) -> dict[str, dict[str, str]]:
    """job id → {job it needs: why} ("needs" or the output it reads); unknown ids dropped."""
    jobs = loaded.manifest.jobs
    edges: dict[str, dict[str, str]] = {}
    for job_id, spec in jobs.items():
        needed: dict[str, str] = {}
        for need in spec.needs:
            if need in jobs and need != job_id:
                needed[need] = "needs"
        for ref in sorted(loaded.job_references.get(job_id, ()), key=str):
            target = ref.parts[0] if ref.root == "jobs" else None
            if target in jobs and target != job_id and target not in needed:
                needed[target] = ref.parts[2]
        edges[job_id] = needed
    return edges


@dataclass(frozen=True)
class _Names:
    """The defined vars and job ids as a message lists them, made once per manifest."""

    vars: str
    jobs: str


def _check_reference(
    loaded: LoadedManifest,
    owner: str,
    ref: Reference,
    path: tuple[str | int, ...],
    names: _Names,
) -> Problem | None:
    manifest = loaded.manifest

    def problem(message: str) -> Problem:  # at the reference itself, when it can
        return loaded.source.problem(path, message, offset=ref.offset)

    if ref.root == "vars":
        value: Any = manifest.vars
        for depth, part in enumerate(ref.parts):
            if not isinstance(value, dict) or part not in value:
                if depth == 0:
                    return problem(
                        f"{ref} is not defined; {did_you_mean(part, manifest.vars)}"
                        f"add it under `vars` (defined: {names.vars})",
                    )
                return problem(f"{ref} is not defined (no {part!r} in it)")
            value = value[part]
        return None
    if ref.root != "jobs":
        return None
    target, _, output = ref.parts
    if target in loaded.families:
        instances = loaded.families[target]
        return problem(
            f"{ref}: {target!r} is a for_each job of {len(instances)} jobs; read one "
            f"instance's output, e.g. jobs['{instances[0]}'].outputs.{output}"
        )
    if target not in manifest.jobs:
        return problem(
            f"{ref} reads unknown job {target!r}; {did_you_mean(target, manifest.jobs)}"
            f"jobs: {names.jobs}",
        )
    job_type = loaded.job_types.get(manifest.jobs[target].job)
    if job_type is None:
        return None  # the unknown job type is reported where it is
    outputs = loaded.job_outputs(target)
    if output not in outputs:
        hint = did_you_mean(output, outputs)
        if output in ("export_url", "filename") and not job_type.produces_export:
            hint = f"{job_type.name} produces no export; "
        elif output == "export_url" and "export_path" in outputs:
            hint = "its parts are joined into a local file, read export_path instead; "
        elif output in SPLIT_OUTPUTS and manifest.jobs[target].split and job_type.splitter:
            hint = f"{job_type.splitter.fits_in_one()}, so it has no parts; "
        return problem(
            f"job {target!r} ({job_type.name}) has no output {output!r}; {hint}"
            f"outputs: {', '.join(sorted(outputs))}",
        )
    return None


# Outputs that lead to an export's file: its link, a split job's joined file, and the copies
# actions make of it (``download``'s ``path``, ``s3``'s ``url``).
EXPORT_FILE_OUTPUTS = frozenset({"export_url", "export_path", "path", "url"})


def check_export_fed_imports(loaded: LoadedManifest) -> list[Problem]:
    """Imports whose ``url``/``file`` is an export's file: it can only ever import nobody,
    because no Sailthru export holds email addresses (``Profile Id`` and ``Email Hash``:
    "The exported URL contains PII hashed data", job-api.txt)."""
    problems: list[Problem] = []
    jobs = loaded.manifest.jobs
    for job_id, spec in jobs.items():
        importing = loaded.job_types.get(spec.job)
        if importing is None:
            continue
        for param, wanted in importing.address_sources.items():
            try:
                found = references(spec.params.get(param))
            except ExpressionError:
                continue  # reported where it was parsed
            for ref in sorted(found, key=lambda ref: ref.offset):
                if ref.root != "jobs" or ref.parts[0] not in jobs or ref.parts[0] == job_id:
                    continue
                target, _, output = ref.parts
                job_type = loaded.job_types.get(jobs[target].job)
                if (
                    job_type is None
                    or not job_type.produces_export
                    or output not in EXPORT_FILE_OUTPUTS
                    or output not in loaded.job_outputs(target)  # reported as unknown
                ):
                    continue
                problems.append(
                    loaded.source.problem(
                        ("jobs", job_id, param),
                        f"{ref} is the file of an export ({job_type.name}), and Sailthru "
                        "exports hold hashed addresses (`Email Hash`), never email addresses: "
                        f"this {spec.job} would import nothing; import "
                        f"{wanted}, and hand the export to download, s3 or "
                        "email actions",
                        offset=ref.offset,
                    )
                )
    return problems


def _find_cycles(edges: Mapping[str, Mapping[str, str]], order: list[str]) -> list[list[str]]:
    """One chain per strongly connected component with a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    position = {job_id: i for i, job_id in enumerate(order)}
    chains = []
    for component in components:
        members = set(component)
        start = min(component, key=position.__getitem__)
        # Walk from the first job along edges inside the component until we return to it.
        chain, seen, node = [start], {start}, start
        while True:
            following = [n for n in edges[node] if n in members]
            nxt = (
                start
                if start in following
                else next(
                    (n for n in sorted(following, key=position.__getitem__) if n not in seen),
                    following[0],
                )
            )
            if nxt == start or nxt in seen:
                chain.append(nxt)
                break
            chain.append(nxt)
            seen.add(nxt)
            node = nxt
        chains.append(chain)
    return sorted(chains, key=lambda chain: position[chain[0]])


def check_graph(loaded: LoadedManifest) -> list[Problem]:
    """Unknown needs, references to unknown jobs, vars or outputs, imports fed by an export,
    and dependency cycles."""
    problems: list[Problem] = []
    jobs = loaded.manifest.jobs
    names = _Names(vars=listed(sorted(loaded.manifest.vars)), jobs=listed(jobs))
    for job_id, spec in jobs.items():
        for index, need in enumerate(spec.needs):
            path: tuple[str | int, ...] = ("jobs", job_id, "needs")
            if isinstance(loaded.source.locate(path)[1], SequenceNode):
                path = (*path, index)  # `needs: [a, b]` rather than `needs: a`
            if need == job_id:
                problems.append(loaded.problem(path, f"job {job_id!r} cannot need itself"))
            elif need not in jobs:
                problems.append(
                    loaded.problem(
                        path,
                        f"needs unknown job {need!r}; {did_you_mean(need, jobs)}jobs: {names.jobs}",
                    )
                )
    for (owner, ref), path in loaded.reference_paths.items():
        if owner == "vars":
            continue  # vars read env/run only (checked while loading)
        problem = _check_reference(loaded, owner, ref, path, names)
        if problem is not None:
            problems.append(problem)
    problems.extend(check_export_fed_imports(loaded))
    edges = dependencies(loaded)
    order = list(jobs)
    for chain in _find_cycles(edges, order):
        shown = " -> ".join(
            f"{job_id} (line {loaded.position(('jobs', job_id))[0]})" for job_id in chain
        )
        problems.append(
            loaded.problem(
                ("jobs", chain[0]),
                f"dependency cycle: {shown}; remove one of these needs or output references",
            )
        )
    return problems


@dataclass(frozen=True)
class PlannedJob:
    id: str
    spec: JobSpec
    job_type: JobType
    needs: frozenset[str]  # explicit needs plus jobs whose outputs it reads


@dataclass(frozen=True)
class BorrowedRun:
    """Where a borrowed job's outputs come from: its last successful run in the run state."""

    run_id: str
    finished_at: datetime | None
    outputs: Mapping[str, Any]
    # Its Sailthru job id, and whether the state withheld a link of its outputs (a run
    # asks Sailthru for a fresh one before sending anything: runner.executor.withheld).
    remote_job_id: str | None = None
    withheld: bool = False

    def describe(self) -> str:
        """``run R of 2026-12-02``."""
        day = f" of {self.finished_at:%Y-%m-%d}" if self.finished_at is not None else ""
        return f"run {self.run_id}{day}"


@dataclass
class Plan:
    """The jobs to run, in topological order, and the sets that can run at once."""

    loaded: LoadedManifest
    jobs: dict[str, PlannedJob]
    levels: list[list[str]]
    required_env: set[str] = field(default_factory=set)
    selection: Selection = field(default_factory=Selection)
    # Jobs not selected whose outputs (and success) selected jobs need: job → those jobs.
    borrowed: dict[str, list[str]] = field(default_factory=dict)
    # Where each borrowed job's outputs come from, once looked up in the run state.
    borrowed_from: dict[str, BorrowedRun] = field(default_factory=dict)
    # A saved plan's borrowed jobs: the run each borrows from (the one the reviewer saw).
    borrow_pins: dict[str, str] = field(default_factory=dict)
    _dependents: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _reasons: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def manifest(self) -> Manifest:
        return self.loaded.manifest

    def needs(self, job_id: str) -> set[str]:
        """The jobs ``job_id`` waits for in this run: its explicit needs and the jobs whose
        outputs it reads, but not borrowed ones (they ran before)."""
        return {need for need in self.jobs[job_id].needs if need in self.jobs}

    def dependents(self, job_id: str) -> set[str]:
        """The jobs that wait for ``job_id`` directly."""
        return set(self._dependents.get(job_id, ()))

    def reason(self, job_id: str, needed: str) -> str:
        """Why ``job_id`` needs ``needed``: "needs" or the name of the output it reads."""
        return self._reasons.get(job_id, {}).get(needed, "needs")

    def missing_env(self, env: Mapping[str, str]) -> list[str]:
        """Every environment variable the plan reads that ``env`` lacks, sorted."""
        return sorted(name for name in self.required_env if name not in env)

    def unborrowed(self, state: str) -> list[Problem]:
        """A problem per borrowed job with no successful run to borrow from (``borrowed_from``
        filled for the others), at each job that needs it. ``state``: where the runs were
        looked for ("the state folder .sailjobs")."""
        problems = []
        for job_id, needed_by in self.borrowed.items():
            if job_id in self.borrowed_from:
                continue
            for owner in needed_by:
                reason = self.reason(owner, job_id)
                what = (
                    f"needs {job_id!r}"
                    if reason == "needs"
                    else f"reads the {reason} of {job_id!r}"
                )
                if job_id in self.borrow_pins:
                    message = (
                        f"{owner} {what}, which the saved plan borrows from run "
                        f"{self.borrow_pins[job_id]}, and {state} holds "
                        "no success of it in that run; make a new plan"
                    )
                else:
                    given = self.loaded.inputs.command_suffix()
                    message = (
                        f"{owner} {what}, which is not selected and has no successful run"
                        f"{f' with{given}' if given else ''} in {state}; "
                        f"select it too (--select {shlex.quote('+' + owner)}) or run it first"
                    )
                problems.append(self.loaded.problem(("jobs", owner), message))
        return problems


def _env_names(refs: Iterable[Reference], loaded: LoadedManifest) -> set[str]:
    names: set[str] = set()
    for ref in refs:
        if ref.root == "env" and not ref.optional:
            names.add(ref.parts[0])
        elif ref.root == "vars" and ref.parts[0] in loaded.manifest.vars:
            names |= _env_names(references(loaded.manifest.vars[ref.parts[0]]), loaded)
    return names


def _levels(order: list[str], needed: dict[str, set[str]]) -> list[list[str]]:
    """Kahn's algorithm in rounds: each level is every job whose needs are all done."""
    waiting = {job_id: len(needs) for job_id, needs in needed.items()}
    dependents: dict[str, list[str]] = {job_id: [] for job_id in order}
    for job_id, needs in needed.items():
        for need in needs:
            dependents[need].append(job_id)
    position = {job_id: index for index, job_id in enumerate(order)}
    level = [job_id for job_id in order if waiting[job_id] == 0]
    levels = []
    while level:
        levels.append(level)
        following = []
        for job_id in level:
            for dependent in dependents[job_id]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    following.append(dependent)
        level = sorted(following, key=position.__getitem__)  # manifest order within a level
    return levels


def build_plan(loaded: LoadedManifest, *, selection: Selection | None = None) -> Plan:
    """Order the jobs of a loaded manifest: all of them, or those ``selection`` picks.

    Raises ManifestError for a selection that names an unknown job or tag or leaves no job
    (the graph itself was checked by ``load_manifest``).
    """
    jobs = loaded.manifest.jobs
    edges = dependencies(loaded)
    selection = selection or Selection()
    order = select_jobs(loaded, edges, selection)
    selected = set(order)
    levels = _levels(order, {job_id: set(edges[job_id]) & selected for job_id in order})
    if sum(map(len, levels)) < len(order):
        # load_manifest reports cycles; only a hand-built manifest can still have one.
        cycle = _find_cycles(edges, order)[0]
        raise ManifestError(
            [loaded.problem(("jobs", cycle[0]), "dependency cycle: " + " -> ".join(cycle))]
        )
    planned: dict[str, PlannedJob] = {}
    dependents: dict[str, set[str]] = {job_id: set() for job_id in order}
    borrowed: dict[str, list[str]] = {}
    for level in levels:
        for job_id in level:
            spec = jobs[job_id]
            planned[job_id] = PlannedJob(
                job_id, spec, loaded.job_types[spec.job], frozenset(edges[job_id])
            )
            for needed in edges[job_id]:
                if needed in selected:
                    dependents[needed].add(job_id)
                else:
                    borrowed.setdefault(needed, []).append(job_id)
    refs: set[Reference] = set(loaded.notify_references)
    for job_id in planned:
        refs |= loaded.job_references.get(job_id, set())
    return Plan(
        loaded=loaded,
        jobs=planned,
        levels=levels,
        required_env=_env_names(refs, loaded),
        selection=selection,
        borrowed={job_id: borrowed[job_id] for job_id in jobs if job_id in borrowed},
        _dependents=dependents,
        _reasons={job_id: dict(edges[job_id]) for job_id in planned},
    )
