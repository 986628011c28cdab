"""``if:`` on a job or an action: deciding it, and the reason a false one gives.

A condition that reads only ``vars``, ``env`` and ``run`` is decided by ``plan`` (the plan
shows the job skipped); one that reads a job's outputs is decided at run time, when the
job is ready to be submitted (an action's, just before the action would run).
"""

from __future__ import annotations

from typing import Any

from runner.manifest.expressions import EvalContext, render, truthy
from runner.results import CONDITION_SKIP_PREFIX


def decide(condition: str | bool | None, ctx: EvalContext, *, strict: bool = True) -> bool | None:
    """Whether to run: no condition runs; ``None`` when it reads an output not known yet
    (only with ``strict=False``, as plans do). Raises ExpressionError when it cannot be
    resolved (an env variable not set)."""
    if condition is None or isinstance(condition, bool):
        return condition is not False
    value: Any = render(condition, ctx, strict=strict)
    if value is condition or value == condition:  # left as written: a job output
        return None
    return truthy(value)


def false_reason(written: str | None, each: str | int | None = None) -> str:
    """``if: vars.env == 'prod' was false`` (with the instance's value for a for_each job)."""
    text = f"{CONDITION_SKIP_PREFIX}{written} was false"
    return text if each is None else f"{text} (each.value = {each!r})"


def needed_false_reason(need: str) -> str:
    """The reason of a job skipped because a job it needs was skipped by its condition."""
    return f"{CONDITION_SKIP_PREFIX}of {need!r} was false, and this job needs it"
