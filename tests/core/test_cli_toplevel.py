"""The CLI's top level: lazy commands, fast help, the exit-code contract for usage errors."""

import subprocess
import sys

from click.testing import CliRunner

from runner.cli import BUILTIN_COMMANDS, cli


def test_top_level_help_lists_every_builtin_command_without_importing_them():
    code = (
        "import sys; from click.testing import CliRunner; from runner.cli import cli;"
        "r = CliRunner().invoke(cli, ['--help']);"
        "print(r.output);"
        "print('IMPORTED', sorted(m for m in sys.modules if m.startswith('runner.commands.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for name in BUILTIN_COMMANDS:
        assert f"  {name} " in out
    assert "IMPORTED []" in out


def test_unknown_command_is_a_usage_error_with_exit_2():
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "sailjobs" in result.output
