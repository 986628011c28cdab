"""``sailjobs plugins``: installed plugins, their versions, where they come from and their hooks."""

from __future__ import annotations

import click


@click.command()
def plugins() -> None:
    """List installed plugins with their version, source and hooks."""
    from runner.plugins import action_types, job_types, plugin_infos

    actions_by_plugin: dict[str, list[str]] = {}
    for name, registered in action_types().items():
        actions_by_plugin.setdefault(registered.plugin, []).append(name)
    job_types()  # fail early on a clash between plugins
    for info in plugin_infos():
        click.echo(f"{info.name} {info.version} [{info.source}]")
        click.echo(f"  hooks: {', '.join(info.hooks) or '-'}")
        if info.name in actions_by_plugin:
            click.echo(f"  actions: {', '.join(sorted(actions_by_plugin[info.name]))}")
