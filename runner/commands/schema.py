"""``sailjobs schema``: the manifest JSON Schema, with the installed plugins' job types and actions."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the manifest JSON Schema (draft 2020-12) for editors and CI tools.

    \b
    Save it and point your editor at it from the top of a manifest:
      sailjobs schema > sailjobs.schema.json
      # yaml-language-server: $schema=./sailjobs.schema.json
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.exitcodes import ExitCode
    from runner.manifest.schema import schema_json
    from runner.plugins import PluginError

    try:
        click.echo(schema_json())
    except PluginError as exc:
        click.echo(f"sailjobs schema: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
