"""The README's sandbox section works when pasted (against a sandbox on a free port)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from runner.sandbox import Sandbox

README = Path(__file__).resolve().parents[2] / "README.md"


def sandbox_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The sandbox", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_official_client_snippet_runs_as_pasted(sandbox: Sandbox) -> None:
    snippet = sandbox_snippets()[0]
    assert "http://127.0.0.1:8642" in snippet
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(snippet.replace("http://127.0.0.1:8642", sandbox.url), {"__name__": "readme"})
    lines = output.getvalue().splitlines()
    assert "'name': 'List Import: Newcomers'" in lines[0]
    assert lines[1] == "completed"
    assert lines[2].startswith("['Profile Id,Email Hash,Opens,userId', ")
    assert lines[3] == "{'error': 99, 'errormsg': 'List not found'}"
    assert lines[4].startswith("{'limit': 40, 'remaining': ")
