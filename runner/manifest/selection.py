"""``--select`` and ``--exclude``: which jobs of a manifest run, with dbt's graph operators.

A selector is a job id or ``tag:NAME``, with ``+`` before it for everything upstream of
what it matches and ``+`` after it for everything downstream (``+b``, ``b+``, ``+tag:x+``).
Several selectors (repeated options, or space-separated in one value as dbt writes them)
add up; ``--exclude`` takes away what its selectors match. No ``--select`` means every job.

Only what is selected runs: a selected job whose upstream is not selected takes that
job's outputs from an earlier run (``runner.manifest.planner``: the plan's borrowed jobs).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.manifest.names import did_you_mean, listed
from runner.problems import ManifestError, Problem

if TYPE_CHECKING:
    from runner.manifest.loaded import LoadedManifest

TAG_PREFIX = "tag:"


@dataclass(frozen=True)
class Selector:
    """One selector as typed (``+tag:nightly``) and what it asks for."""

    text: str
    name: str  # a job id, or the tag's name
    is_tag: bool
    upstream: bool  # "+x": and everything x needs, transitively
    downstream: bool  # "x+": and everything that needs x, transitively


@dataclass(frozen=True)
class Selection:
    """The ``--select`` and ``--exclude`` values as typed (each may hold several selectors)."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, select: Iterable[str] = (), exclude: Iterable[str] = ()) -> Selection:
        return cls(tuple(split_selectors(select)), tuple(split_selectors(exclude)))

    @classmethod
    def exactly(cls, job_ids: Iterable[str]) -> Selection:
        """These jobs and no other (a saved plan's), ids taken whole (never split)."""
        return cls(tuple(job_ids))

    @property
    def everything(self) -> bool:
        return not self.select and not self.exclude

    def describe(self) -> str:
        """``--select a b --exclude c``: the selection as options, for messages."""
        parts = []
        if self.select:
            parts.append("--select " + " ".join(self.select))
        if self.exclude:
            parts.append("--exclude " + " ".join(self.exclude))
        return " ".join(parts)


# A selector: anything but spaces, where a for_each instance's [value] may hold spaces.
_SELECTOR_WORD = re.compile(r"(?:[^\s\[]|\[[^\]]*\]?)+")  # an unclosed [ keeps the rest


def split_selectors(values: Iterable[str]) -> list[str]:
    """``["a b", "c"]`` → ``["a", "b", "c"]``: dbt's space-separated form, and repeats;
    ``export-lists[Main Newsletter]`` stays one selector."""
    return [word for value in values for word in _SELECTOR_WORD.findall(value)]


def parse_selector(text: str) -> Selector | str:
    """The selector, or why it is not one (a message without the option's name)."""
    body = text.removeprefix("+")
    upstream = body != text
    name = body.removesuffix("+")
    downstream = name != body
    is_tag = name.startswith(TAG_PREFIX)
    if is_tag:
        name = name.removeprefix(TAG_PREFIX)
    if not name or "+" in name:
        return (
            "not a selector; write a job id or tag:NAME, with + before it for everything "
            "upstream and + after it for everything downstream (e.g. +export-main, tag:nightly+)"
        )
    if not is_tag and ":" in name:
        method = name.partition(":")[0]
        return f"unknown selector method {method + ':'!r}; sailjobs selects by job id or tag:NAME"
    return Selector(text, name, is_tag, upstream, downstream)


def _closure(start: Iterable[str], edges: Mapping[str, Collection[str]]) -> set[str]:
    """``start`` and every job reachable from it along ``edges``."""
    found: set[str] = set()
    pending = list(start)
    while pending:
        job_id = pending.pop()
        if job_id not in found:
            found.add(job_id)
            pending.extend(edges.get(job_id, ()))
    return found


def select_jobs(
    loaded: LoadedManifest,
    edges: Mapping[str, Collection[str]],
    selection: Selection,
) -> list[str]:
    """The selected job ids in manifest order. ``edges``: job → the jobs it needs.

    Raises ManifestError with one problem per selector that is malformed, names an unknown
    job or tag, and for a selection that leaves no job.
    """
    jobs = loaded.manifest.jobs
    if selection.everything:
        return list(jobs)
    tagged: dict[str, list[str]] = {}
    for job_id, spec in jobs.items():
        for tag in spec.tags:
            tagged.setdefault(tag, []).append(job_id)
    dependents: dict[str, set[str]] = {job_id: set() for job_id in jobs}
    for job_id, needed in edges.items():
        for need in needed:
            dependents[need].add(job_id)

    problems: list[Problem] = []

    def matched(option: str, texts: tuple[str, ...]) -> set[str]:
        found: set[str] = set()
        for text in texts:
            selector = parse_selector(text)
            if isinstance(selector, str):
                problems.append(loaded.problem(("jobs",), f"{option} {text}: {selector}"))
                continue
            if selector.is_tag:
                hits = tagged.get(selector.name)
                if hits is None:
                    problems.append(
                        loaded.problem(
                            ("jobs",),
                            f"{option} {text}: no job has the tag {selector.name!r}; "
                            f"{did_you_mean(selector.name, tagged)}tags: {listed(sorted(tagged))}",
                        )
                    )
                    continue
            elif selector.name in jobs:
                hits = [selector.name]
            elif selector.name in loaded.families:  # a for_each job: every instance of it
                hits = list(loaded.families[selector.name])
            else:
                problems.append(
                    loaded.problem(
                        ("jobs",),
                        f"{option} {text}: no such job; {did_you_mean(selector.name, jobs)}"
                        f"jobs: {listed(jobs)}",
                    )
                )
                continue
            found.update(hits)
            if selector.upstream:
                found |= _closure(hits, edges)
            if selector.downstream:
                found |= _closure(hits, dependents)
        return found

    chosen = matched("--select", selection.select) if selection.select else set(jobs)
    chosen -= matched("--exclude", selection.exclude)
    if problems:
        raise ManifestError(problems)
    if not chosen:
        raise ManifestError(
            [
                loaded.problem(
                    ("jobs",),
                    f"{selection.describe()} selects no job; select at least one of {listed(jobs)}",
                )
            ]
        )
    return [job_id for job_id in jobs if job_id in chosen]
