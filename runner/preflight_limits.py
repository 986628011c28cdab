"""Limits of the job API that both the manifest checks and the pre-flight checks enforce.

A module of its own, free of imports, so that a pre-flight check (and each of its worker
processes) does not load pydantic and the job-type models just to read a number.
"""

from __future__ import annotations

from typing import Final

MAX_UPLOAD_BYTES: Final = 1024**3  # "Max upload is 1gb" (job-api.txt, import and purchase_import)
EXPRESSION_OPEN: Final = "${{"  # a value holding it is resolved at run time, checked then


def is_expression(value: object) -> bool:
    """A value resolved at submission time: checked then, not now."""
    return isinstance(value, str) and EXPRESSION_OPEN in value
