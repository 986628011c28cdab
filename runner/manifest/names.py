"""Names in messages: a did-you-mean guess and a bounded list, shared by every check."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

# A hostile manifest (thousands of vars, each reference to an unknown one) must not make
# every problem cost a scan of every name: guesses and lists stop at these sizes.
_MAX_GUESS_CANDIDATES = 1000
_MAX_LISTED_NAMES = 20


def did_you_mean(name: str, names: Collection[str]) -> str:
    """``"did you mean 'x'? "`` for the closest of ``names``, or ``""``."""
    if len(names) > _MAX_GUESS_CANDIDATES:
        return ""
    found = difflib.get_close_matches(name, list(names), n=1)
    return f"did you mean {found[0]!r}? " if found else ""


def listed(names: Iterable[str]) -> str:
    """Names for a message: all of them, or the first ones and how many more."""
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:_MAX_LISTED_NAMES])
    more = len(names) - _MAX_LISTED_NAMES
    return f"{shown}, and {more} more" if more > 0 else shown
