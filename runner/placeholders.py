"""``{name}`` placeholders in action settings: an email subject, a chat title, an S3 key.

Plain names in single braces; ``{{`` and ``}}`` and the ``${{ }}`` of manifest expressions
are left alone. A settings validator checks a template names only known fields (so a typo
is an error at its line, before the run), then the action fills it in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_]+)\}(?!\})")


def check_placeholders(template: str, known: Collection[str], setting: str) -> str:
    """``template`` unchanged if every placeholder is in ``known``; else ValueError naming
    the first unknown one, the setting and the known names (for a pydantic validator)."""
    unknown = sorted(set(PLACEHOLDER.findall(template)) - set(known))
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{unknown[0]}}} in {setting}; "
            f"known: {', '.join('{' + name + '}' for name in known)}"
        )
    return template


def fill_placeholders(template: str, fields: Mapping[str, str]) -> str:
    """Each ``{name}`` with a field replaced by its value; any other left as written."""
    return PLACEHOLDER.sub(lambda match: fields.get(match.group(1), match.group(0)), template)


EXPRESSION_OPEN: Final = "${{"  # a value holding it is resolved at run time, checked then


def is_expression(value: object) -> bool:
    """A value resolved at submission time (it holds ``${{``): checked then, not now."""
    return isinstance(value, str) and EXPRESSION_OPEN in value
