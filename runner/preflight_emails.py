"""Email address syntax for pre-flight checks: a practical check, not full RFC 5322.

One ``@``, a non-empty local part of at most 64 characters, a domain with at least one dot and
no empty label, no whitespace, at most 254 characters in all (RFC 5321's limits).
"""

from __future__ import annotations

import re
from typing import Final

EMAIL_PATTERN: Final = r"^(?=[^@]{1,64}@)(?=[^\s]{3,254}\Z)[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+\Z"
EMAIL_RE: Final = re.compile(EMAIL_PATTERN)


def is_valid_email(address: str) -> bool:
    return EMAIL_RE.match(address) is not None
