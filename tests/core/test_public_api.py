"""The public names keep importing from where README and plugins use them, and the package
faces stay lazy (importing one loads nothing heavy until a name is used)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PUBLIC = [
    ("runner", "load_manifest"),
    ("runner", "build_plan"),
    ("runner", "run"),
    ("runner", "hookimpl"),
    ("runner", "ExitCode"),
    ("runner.manifest", "load_manifest"),
    ("runner.manifest", "build_plan"),
    ("runner.sailthru", "SailthruClient"),
    ("runner.sailthru", "JobInfo"),
    ("runner.sailthru", "ApiError"),
    ("runner.sailthru", "MissingCredentialsError"),
    ("runner.preflight", "check_file"),
    ("runner.preflight", "check_job_files"),
    ("runner.executor", "run"),
    ("runner.executor", "exit_code_for"),
    ("runner.executor", "RunSetupError"),
    ("runner.testing", "run_on_sandbox"),
]


@pytest.mark.parametrize(("module", "name"), PUBLIC, ids=lambda x: x)
def test_public_name_imports(module: str, name: str) -> None:
    code = f"from {module} import {name}; print({name}.__module__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_runner_hookimpl_is_the_marker_plugins_use() -> None:
    import runner
    from runner.hookspecs import hookimpl

    assert runner.hookimpl is hookimpl


def test_the_faces_load_nothing_heavy() -> None:
    code = (
        "import sys, runner, runner.manifest, runner.sailthru, runner.preflight, "
        "runner.executor\n"
        "heavy = sorted({'pydantic', 'requests', 'werkzeug', 'yaml'} & set(sys.modules))\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_an_unknown_name_is_an_attribute_error() -> None:
    import runner.sailthru

    with pytest.raises(AttributeError, match="no attribute 'SailthruClien'"):
        runner.sailthru.SailthruClien  # noqa: B018
