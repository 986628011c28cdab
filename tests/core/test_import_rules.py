"""The layout's import rules (README, "Layout"): import-linter's contracts in pyproject.toml,
and no function-level import of ``runner`` without a comment saying why it is lazy."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = sorted((ROOT / "plugins").glob("sailjobs-*/sailjobs_*.py"))
# What a first-party plugin may import from runner: the plugin surface, helpers, sailthru.
PLUGIN_MAY_IMPORT = (
    "runner.hookspecs",
    "runner.plugins",
    "runner.actions",
    "runner.jobtypes",
    "runner.results",
    "runner.masking",
    "runner.placeholders",
    "runner.durations",
    "runner.files",
    "runner.retries",
    "runner.sailthru",
    "runner.testing",  # the fixtures, in tests only
)


def _lint_imports() -> Path:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert found, "lint-imports is not installed: pip install -e '.[test]'"
    return Path(found)


def test_the_import_contracts_are_kept() -> None:
    done = subprocess.run(
        [_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_a_broken_rule_fails_the_check(tmp_path: Path) -> None:
    """The contracts can fail: a helper that imports the executor breaks the layers."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "runner", copy / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    with (copy / "runner" / "masking.py").open("a") as helper:
        helper.write("\nimport runner.executor.scheduler  # an upward import\n")
    done = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(copy), "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode != 0
    assert "runner.masking -> runner.executor.scheduler" in done.stdout


def _function_level_runner_imports(path: Path) -> list[tuple[int, str]]:
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runner"):
                above = node.lineno - 2  # the lazy comment heads a block of imports
                while above > 0 and lines[above].lstrip().startswith(("from ", "import ")):
                    above -= 1
                if not lines[above].strip().startswith("# lazy:"):
                    found.append((node.lineno, lines[node.lineno - 1].strip()))
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((ROOT / "runner").rglob("*.py")) if "sandbox" not in p.parts],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_function_level_imports_say_why_they_are_lazy(path: Path) -> None:
    assert _function_level_runner_imports(path) == []


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.parent.name)
def test_first_party_plugins_import_only_the_plugin_surface(plugin: Path) -> None:
    imported = set()
    for node in ast.walk(ast.parse(plugin.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runner"):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names if a.name.startswith("runner")}
    outside = sorted(
        name for name in imported if not name.startswith(PLUGIN_MAY_IMPORT) and name != "runner"
    )
    assert outside == []
