"""The ``sailjobs`` command line: parses options, calls the library, renders results.

Commands live in ``runner/commands/`` and are imported only when invoked, so that
``sailjobs validate`` in a pre-commit hook starts fast. Plugins add commands through the
``sailjobs_register_commands`` hook.
"""

from __future__ import annotations

import importlib

import click

from runner import __version__

# name -> ("module:attribute", one-line help); imported only when the command runs, so the
# top-level help lists them without importing anything.
BUILTIN_COMMANDS = {
    "validate": ("runner.commands.validate:validate", "Check manifests; print every problem."),
    "plan": ("runner.commands.plan:plan", "Show the jobs in order, with parameters."),
    "schema": ("runner.commands.schema:schema", "Print the manifest JSON Schema."),
    "run": ("runner.commands.run:run", "Run a manifest: submit, poll, act."),
    "status": ("runner.commands.status:status", "Print one job's status."),
    "runs": ("runner.commands.runs:runs", "List the runs recorded in the state."),
    "show": ("runner.commands.show:show", "Print a run's report, rebuilt from the state."),
    "state": ("runner.commands.state:state", "Keep the run state: migrate, prune old runs."),
    "plugins": ("runner.commands.plugins:plugins", "List installed plugins and hooks."),
    "sandbox": ("runner.commands.sandbox:sandbox", "The Sailthru-compatible sandbox."),
}


class LazyGroup(click.Group):
    """A group whose built-in commands are imported on demand; plugin commands on listing."""

    _plugins_loaded = False

    def _load_plugin_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        # lazy: plugins load only when commands are listed or one is not built in
        from runner.plugins import register_commands

        register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(BUILTIN_COMMANDS))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._load_plugin_commands()
        rows = [(name, help_text) for name, (_, help_text) in BUILTIN_COMMANDS.items()]
        rows += [
            (name, command.get_short_help_str(limit=60))
            for name, command in self.commands.items()
            if name not in BUILTIN_COMMANDS and not command.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in BUILTIN_COMMANDS:
            module_name, attribute = BUILTIN_COMMANDS[cmd_name][0].split(":")
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
    130 interrupted (`sailjobs run MANIFEST --resume` continues it).
    """


def main() -> None:
    try:
        cli(prog_name="sailjobs")
    except Exception as exc:
        # lazy: a successful command never pays for loading the plugin manager here
        from runner.plugins import PluginError

        if not isinstance(exc, PluginError):
            raise
        # A broken plugin is the user's to fix: one line naming it, exit 2.
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
