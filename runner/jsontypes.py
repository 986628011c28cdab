"""Names for values that are JSON by nature: API payloads and answers, job and action outputs.

Built on ``object``, not ``Any``: code that reads one checks what it got (``isinstance``),
as it would for any value from the wire. A leaf helper: imports nothing from ``runner``.
"""

from __future__ import annotations

import json
from typing import TypeAlias

JSONValue: TypeAlias = object
"""A value decoded from JSON (or bound for it): str, int, float, bool, None, list or dict."""

JSONDict: TypeAlias = dict[str, JSONValue]
"""A JSON object: an API payload or answer, a job's or an action's outputs."""


def _not_json(name: str) -> object:
    raise ValueError(f"{name} is not JSON (write a number or null)")


def loads_strict(text: str | bytes) -> JSONValue:
    """JSON as the standard has it, for lines a real server will parse: ``ValueError`` for
    ``NaN`` and ``Infinity`` (which Python's ``json`` takes by default) and for nesting too
    deep to read (Python's ``RecursionError``), as for any other malformed text."""
    try:
        return json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None
