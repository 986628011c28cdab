"""``sailjobs plan PATH``: the jobs in order with resolved parameters; secrets masked."""

from __future__ import annotations

from datetime import date

import click

from runner.commands.options import input_options, inputs_from_options


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
    help="mermaid: a graph a pull request renders.",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="JOB",
    help="Only this job and everything upstream of it (repeatable).",
)
@input_options
def plan(
    path: str,
    output_format: str,
    only: tuple[str, ...],
    var_options: tuple[str, ...],
    vars_files: tuple[str, ...],
    logical_date: date | None,
    target: str | None,
) -> None:
    """Show which jobs will run, in which order, with which parameters.

    Fails (exit 2) on an invalid manifest and names every environment variable the plan
    reads that is not set.
    """
    import os

    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.exitcodes import ExitCode
    from runner.manifest.loader import load_manifest
    from runner.manifest.planner import build_plan
    from runner.manifest.render import render_json, render_mermaid, render_text
    from runner.plugins import PluginError
    from runner.problems import ManifestError

    try:
        inputs = inputs_from_options(var_options, vars_files, logical_date, target)
        loaded = load_manifest(path, inputs=inputs)
        the_plan = build_plan(loaded, only=list(only) or None)
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(problem.render())
        raise SystemExit(ExitCode.INVALID) from None
    except PluginError as exc:
        click.echo(f"sailjobs plan: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    for warning in loaded.warnings:
        click.echo(warning.render(), err=True)
    if output_format == "mermaid":
        click.echo(render_mermaid(the_plan))
        return
    missing = the_plan.missing_env(os.environ)
    if missing:
        click.echo(
            f"{path}: missing environment variable{'s' * (len(missing) != 1)} "
            f"{', '.join(missing)}; set {'them' if len(missing) > 1 else 'it'} "
            "(or give a fallback with `| default(...)`)",
            err=True,
        )
        raise SystemExit(ExitCode.INVALID)
    renderer = render_json if output_format == "json" else render_text
    click.echo(renderer(the_plan, os.environ))
