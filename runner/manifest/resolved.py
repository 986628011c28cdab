"""Values known before the run, checked once resolved: the one way ``validate`` (with
``vars``) and the dry run of ``plan`` and ``run`` (with ``vars``, ``env`` and ``run``) check
what was written as ``${{ }}`` and skipped at load time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from runner.manifest.expressions import EvalContext, ExpressionError, has_expression, render
from runner.manifest.models import validation_messages

PathTuple = tuple[str | int, ...]


def resolve_known(values: Mapping[str, Any], ctx: EvalContext) -> dict[str, Any]:
    """The values holding ``${{ }}`` that ``ctx`` can resolve, resolved; the others (a job's
    outputs, a name ``ctx`` does not have) are left out."""
    resolved: dict[str, Any] = {}
    for key, value in values.items():
        if not has_expression(value):
            continue
        with contextlib.suppress(ExpressionError, ValueError, TypeError):
            resolved[key] = render(value, ctx)
    return resolved


def resolved_model_problems(
    model: type[BaseModel], values: Mapping[str, Any], resolved: Mapping[str, Any]
) -> Iterator[tuple[PathTuple, str, bool]]:
    """``model``'s problems with ``values`` once ``resolved`` replaces their ``${{ }}``:
    (path, message, points-at-key), only at resolved keys (the others were checked as
    written)."""
    if not resolved:
        return
    merged = {**values, **resolved}
    try:
        model.model_validate(merged)
    except ValidationError as exc:
        allowed = sorted(model.model_fields)
        for where, message, at_key in validation_messages(
            exc, merged, allowed=allowed, skip_expressions=True
        ):
            if where and where[0] in resolved:
                yield where, message, at_key
