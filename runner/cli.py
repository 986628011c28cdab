"""The ``sailjobs`` command line: parses options, calls the library, renders results.

Commands live in ``runner/commands/`` and are imported only when invoked, so that
``sailjobs validate`` in a pre-commit hook starts fast. Plugins add commands through the
``sailjobs_register_commands`` hook.
"""

from __future__ import annotations

import importlib

import click

from runner import __version__

# name -> "module:attribute"; imported on first use.
BUILTIN_COMMANDS = {
    "validate": "runner.commands.validate:validate",
    "plan": "runner.commands.plan:plan",
    "schema": "runner.commands.schema:schema",
    "run": "runner.commands.run:run",
    "status": "runner.commands.status:status",
    "plugins": "runner.commands.plugins:plugins",
    "sandbox": "runner.commands.sandbox:sandbox",
}


class LazyGroup(click.Group):
    """A group whose built-in commands are imported on demand; plugin commands on listing."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from runner.plugins import get_plugin_manager

        get_plugin_manager().hook.sailjobs_register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(BUILTIN_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            module_name, attribute = BUILTIN_COMMANDS[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attribute)
            return command
        command_or_none = super().get_command(ctx, cmd_name)
        if command_or_none is None:
            self._load_plugin_commands()
            command_or_none = super().get_command(ctx, cmd_name)
        return command_or_none


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sailjobs")
def cli() -> None:
    """Run Sailthru job pipelines declared as YAML manifests.

    \b
    Exit codes: 0 all jobs succeeded, 1 a job failed, 2 invalid manifest or usage,
    130 interrupted (run again to resume).
    """


def main() -> None:
    cli(prog_name="sailjobs")
