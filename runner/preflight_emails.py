"""Email address syntax for pre-flight checks: a practical check, not full RFC 5322.

One ``@``, a non-empty local part of at most 64 characters, a domain with at least one dot and
no empty label, no whitespace, at most 254 characters in all (RFC 5321's limits).
"""

from __future__ import annotations

import re
from typing import Final

# No look-aheads (a look-ahead for the total length made the purchase check twice as slow);
# the total length is a separate check. EMAIL_BODY is unanchored for batch searches.
# Possessive quantifiers (never give back: each class stops at the delimiter that follows it)
# halve the regex's time and match exactly the same addresses.
EMAIL_BODY: Final = r"[^@\s]{1,64}+@[^@\s.]++(?:\.[^@\s.]++)++"
EMAIL_PATTERN: Final = rf"^{EMAIL_BODY}\Z"
EMAIL_MAX_LENGTH: Final = 254
EMAIL_RE: Final = re.compile(EMAIL_PATTERN)


def is_valid_email(address: str) -> bool:
    return len(address) <= EMAIL_MAX_LENGTH and EMAIL_RE.match(address) is not None
