"""``sailjobs plugins``: installed plugins, their versions, where they come from and their hooks."""

from __future__ import annotations

import json
from typing import Any

import click


def _describe_plugins() -> dict[str, Any]:
    """Everything the command shows, as data (the text and JSON renderings share it)."""
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner import plugins as registry

    registry.load_skipping_broken()
    disabled = sorted(registry.disabled_names())
    actions: dict[str, list[str]] = {}
    for name, registered in registry.action_types().items():
        actions.setdefault(registered.plugin, []).append(name)
    job_types: dict[str, list[str]] = {}
    for name, plugin in registry.job_type_owners().items():
        job_types.setdefault(plugin, []).append(name)
    return {
        "plugins": [
            {
                "name": info.name,
                "version": info.version,
                "source": info.source,
                "module": info.module,
                "distribution": info.distribution,
                "hooks": list(info.hooks),
                "actions": sorted(actions.get(info.name, [])),
                "job_types": sorted(job_types.get(info.name, [])),
            }
            for info in registry.plugin_infos()
        ],
        "broken": {
            name: {
                "source": source,
                "error": error,
                # Added to what is disabled already, so that following it keeps that off too.
                "disable": f"{registry.DISABLE_ENV}={','.join([*disabled, name])}",
            }
            for name, (source, error) in registry.broken_plugins().items()
        },
        "blocked": registry.blocked_plugins(),
        "disabled": disabled,
        "unknown_disabled": registry.unknown_disabled_names(),
        "entry_points": registry.entry_points_enabled(),
        "hook_names": registry.hook_names(),
    }


def _render_text(data: dict[str, Any]) -> None:
    width = max((len(p["name"]) for p in data["plugins"]), default=0)
    for plugin in data["plugins"]:
        module = f"  ({plugin['module']})" if plugin["module"] != plugin["name"] else ""
        click.echo(f"{plugin['name']:<{width}}  {plugin['version']}  {plugin['source']}{module}")
        click.echo(f"  hooks: {', '.join(plugin['hooks']) or '-'}")
        if plugin["actions"]:
            click.echo(f"  actions: {', '.join(plugin['actions'])}")
        if plugin["job_types"]:
            click.echo(f"  job types: {', '.join(plugin['job_types'])}")
    for name, broken in data["broken"].items():
        click.echo(f"{name}  BROKEN, left out  {broken['source']}")
        click.echo(f"  error: {broken['error']}")
        click.echo(f"  to run without it: {broken['disable']} sailjobs …")
    if len(data["broken"]) > 1:
        names = ",".join([*data["disabled"], *data["broken"]])
        click.echo(f"to run without all of them: SAILJOBS_DISABLE_PLUGINS={names} sailjobs …")
    for name, source in sorted(data["blocked"].items()):
        click.echo(f"{name}  blocked by SAILJOBS_DISABLE_PLUGINS  {source}")
    for name in data["unknown_disabled"]:
        click.echo(f"note: SAILJOBS_DISABLE_PLUGINS names {name!r}, which is not installed")
    if not data["entry_points"]:
        click.echo("note: entry points not loaded (SAILJOBS_DISABLE_PLUGIN_AUTOLOAD is set)")
    click.echo(f"hooks a plugin can implement: {', '.join(data['hook_names'])}")


@click.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document with every plugin, its hooks, actions and job types.",
)
def plugins(output_format: str) -> None:
    """List installed plugins with their version, source and hooks.

    \b
    Built-ins come first, then the plugins found through the `sailjobs` entry points.
    SAILJOBS_DISABLE_PLUGINS=a,b blocks plugins by name; SAILJOBS_DISABLE_PLUGIN_AUTOLOAD=1
    skips entry points. A broken plugin is listed with its error and how to run without
    it, after the others (exit 2).
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.exitcodes import ExitCode
    from runner.plugins import PluginError

    try:
        data = _describe_plugins()
    except PluginError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    if output_format == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        _render_text(data)
    if data["broken"]:
        raise SystemExit(ExitCode.INVALID)
