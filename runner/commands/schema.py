"""``sailjobs schema``: the manifest JSON Schema; ``--with-plugins`` adds the installed plugins'
job types and actions."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--with-plugins",
    is_flag=True,
    help="Describe the installed plugins' job types and actions too, and refuse any other.",
)
def schema(with_plugins: bool) -> None:
    """Print the manifest JSON Schema (draft-07) for editors and CI tools.

    Without --with-plugins: the core schema, the same wherever it is made (the built-in job
    types and actions; any other one is taken as a plugin's), committed as
    sailjobs.schema.json.

    \b
    Point your editor at it from the top of a manifest:
      # yaml-language-server: $schema=../sailjobs.schema.json
    or describe this installation's plugins too:
      sailjobs schema --with-plugins > sailjobs.schema.json
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.exitcodes import ExitCode
    from runner.manifest.schema import schema_json
    from runner.plugins import PluginError

    try:
        click.echo(schema_json(with_plugins=with_plugins))
    except PluginError as exc:
        click.echo(f"sailjobs schema: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
