"""Durations as people write them in manifests: ``90s``, ``5m``, ``3h``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|d|h|m|s)\s*)+$"
_WHOLE = re.compile(DURATION_PATTERN)
MAX_DURATION_SECONDS = 365 * 86400  # a timeout, retry or poll interval longer is a mistake


def parse_duration(value: Any) -> timedelta:
    """``"1h30m"`` → 90 minutes; a bare number is seconds. Raises ValueError with a hint."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 90s, 5m or 3h, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _WHOLE.match(value):
        seconds = sum(
            float(number) * _UNITS[unit] for number, unit in _PART.findall(value.replace(" ", ""))
        )
    else:
        raise ValueError(f"expected a duration like 90s, 5m, 3h or 1h30m, got {value!r}")
    if seconds != seconds:  # NaN (YAML's .nan)
        raise ValueError(f"expected a duration like 90s, 5m, 3h or 1h30m, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be more than zero, got {value!r}")
    if seconds > MAX_DURATION_SECONDS:  # also keeps timedelta from overflowing (.inf, 1e12d)
        raise ValueError(f"a duration must be at most 365d, got {value!r}")
    return timedelta(seconds=seconds)


def format_seconds(seconds: float | None) -> str:
    """A duration as people read it and ``parse_duration`` reads it back: ``250ms``, ``42s``,
    ``3m5s``, ``1h30m``, ``2d3h``. Whole seconds (milliseconds under one second); empty when
    unknown. Every duration sailjobs shows (progress, messages, reports, plugins) uses it."""
    if seconds is None:
        return ""
    if 0 < seconds < 1 and round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    text = ""
    for unit in ("d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if rest >= size:
            text += f"{rest // size}{unit}"
            rest %= size
    return text or "0s"


def format_duration(delta: timedelta) -> str:
    """The exact, shortest text ``parse_duration`` reads back: 5400 s → ``1h30m``, 1.5 s →
    ``1.5s`` (a manifest's durations in the plan and the JSON schema are never rounded)."""
    total = delta.total_seconds()
    if total != int(total):
        return f"{total:g}s"
    return format_seconds(total)


# A pydantic field type: parsed from text or seconds, shown as text, a string in the schema.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "a duration: 90s, 5m, 3h, 1h30m, 2d (a number is seconds)",
        }
    ),
]
