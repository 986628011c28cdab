"""Server text is data: a ``job_id``, an error message or a file name from the server is
shown, never obeyed, by the terminal, a CI log, a GitHub annotation or a Markdown summary.

``printable`` makes text one inert line: control characters (newlines, ANSI escapes, C1
codes) and the invisible Unicode that reorders or hides text are written as ``\\n``,
``\\x1b``, ``\\u202e``, so a value cannot start a new log line (``::error::`` at the start of
a line is a GitHub workflow command), recolour the terminal or hide what follows.
``workflow_data`` and ``workflow_property`` escape for a workflow command (``::error
file=…::message``) as GitHub's toolkit does; ``markdown_inline`` for a Markdown table cell.
Apply them where text is emitted, after masking.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls, DEL, zero-width characters, line/paragraph separators, bidi controls
# and the byte-order mark: nothing a reader should get uninterpreted from a server.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What turns inline Markdown into a link, an image, code or a new table cell (HTML is
# escaped separately); emphasis characters only style and are left alone.
_MARKDOWN = re.compile(r"([\\`\[\]|])")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` as one inert line: every control or invisible character written out."""
    return _UNSAFE.sub(_escape, text) if text else text


def workflow_data(text: str) -> str:
    """The message of a GitHub workflow command (``::error …::message``): ``%``, CR and LF
    percent-encoded as GitHub decodes them, every other control character written out."""
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def workflow_property(text: str) -> str:
    """A property value of a workflow command (``file=…``), which also ends at ``:`` and ``,``."""
    return workflow_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown_inline(text: str) -> str:
    """Text that stays text inside a Markdown table cell: HTML escaped, links, images, code
    spans and cell breaks backslash-escaped, on one line."""
    one_line = printable(" ".join(text.split()))
    return _MARKDOWN.sub(r"\\\1", html.escape(one_line, quote=False))
