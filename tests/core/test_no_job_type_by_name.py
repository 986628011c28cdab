"""Nothing in the executor or pre-flight chooses by a job type's name: what they need comes
from the type (``runner.jobtypes.JobType``: file checks, import slot, splitter, completion
warning, ...), so a plugin's job type gets the same treatment as a built-in one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from runner.plugins import job_types

RUNNER = Path(__file__).resolve().parents[2] / "runner"
PACKAGES = ("executor", "preflight")


def string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_code_names_a_job_type(package: str) -> None:
    names = set(job_types())
    assert {"import", "export_purchase_log", "purchase_import"} <= names
    found = [
        f"{path.relative_to(RUNNER.parent)}:{line}: {value!r}"
        for path in sorted((RUNNER / package).rglob("*.py"))
        for line, value in string_constants(path)
        if value in names
    ]
    assert found == []


def test_the_check_sees_a_name_where_one_is_written(tmp_path: Path) -> None:
    code = tmp_path / "chooser.py"
    code.write_text('def f(job):\n    return job.name == "import"\n')
    assert (2, "import") in string_constants(code)
