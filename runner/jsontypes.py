"""Names for values that are JSON by nature: API payloads and answers, job and action outputs.

Built on ``object``, not ``Any``: code that reads one checks what it got (``isinstance``),
as it would for any value from the wire. A leaf helper: imports nothing from ``runner``.
"""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = object
"""A value decoded from JSON (or bound for it): str, int, float, bool, None, list or dict."""

JSONDict: TypeAlias = dict[str, JSONValue]
"""A JSON object: an API payload or answer, a job's or an action's outputs."""
