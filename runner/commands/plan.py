"""``sailjobs plan PATH``: the jobs in order with resolved parameters; secrets masked."""

from __future__ import annotations

import shlex
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.commands.options import (
    exclude_option,
    input_options,
    inputs_from_options,
    run_key_option,
    select_option,
    state_option,
)

if TYPE_CHECKING:
    from runner.executor.state.location import StateLocation


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown", "mermaid"]),
    default="text",
    show_default=True,
    help="markdown: a pull-request comment (with the graph); mermaid: the graph alone.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also save the plan to this file, for `sailjobs run FILE` to apply exactly it.",
)
@select_option
@exclude_option
@state_option
@run_key_option
@input_options
@click.option(
    "--offline",
    is_flag=True,
    help="Skip the checks that reach a server (API credentials, S3 buckets, SMTP logins).",
)
def plan(
    path: str,
    output_format: str,
    out: Path | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    state: StateLocation,
    named: str | None,
    var_options: tuple[str, ...],
    vars_files: tuple[str, ...],
    logical_date: date | None,
    target: str | None,
    offline: bool,
) -> None:
    """Show which jobs will run, in which order, with which parameters.

    Fails (exit 2) on an invalid manifest, names every environment variable the plan
    reads that is not set, and each job a selection leaves out whose outputs it needs
    but that has no successful run in --state to take them from. It is a dry run: each
    problem the run would meet before or after sending a job, when it is knowable now
    (parameters once resolved, files to upload, download targets in the way, each
    action's configuration and credentials, the API credentials), is shown at its line.
    With --out, the plan is also saved: `sailjobs run FILE` then sends exactly its
    parameters, and refuses if the manifest or its files changed since.
    """
    import os

    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.borrowing import borrow_from_location
    from runner.executor.lifecycle import run_key
    from runner.executor.state import StateError
    from runner.exitcodes import ExitCode
    from runner.manifest.loader import load_manifest
    from runner.manifest.planner import build_plan
    from runner.manifest.render import render_json, render_markdown, render_mermaid, render_text
    from runner.manifest.selection import Selection
    from runner.plugins import PluginError
    from runner.problems import ManifestError

    try:
        inputs = inputs_from_options(var_options, vars_files, logical_date, target)
        loaded = load_manifest(path, inputs=inputs)
        the_plan = build_plan(loaded, selection=Selection.of(select, exclude))
        if output_format != "mermaid":  # the graph only: no run state needed to draw it
            borrow_from_location(the_plan, state, run_key(loaded, named=named))
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(problem.render())
        raise SystemExit(ExitCode.INVALID) from None
    except (PluginError, StateError) as exc:
        click.echo(f"sailjobs plan: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    for warning in loaded.warnings:
        click.echo(warning.render(), err=True)
    if output_format == "mermaid" and out is None:
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
    if not _dry_run(the_plan, state, named, offline=offline):
        raise SystemExit(ExitCode.INVALID)
    if out is not None:
        _save(the_plan, out)
    renderers = {"json": render_json, "markdown": render_markdown, "text": render_text}
    if output_format == "mermaid":
        click.echo(render_mermaid(the_plan))
    else:
        click.echo(renderers[output_format](the_plan, os.environ))
    if out is not None:
        shown = shlex.quote(str(out))
        click.echo(f"plan saved to {out}; apply it with `sailjobs run {shown}`", err=True)


def _save(the_plan: Any, out: Path) -> None:
    """Write the plan file, or exit 2 saying why it cannot be written."""
    import os

    # lazy: the library loads only when this command runs
    from runner.exitcodes import ExitCode
    from runner.manifest.planfile import plan_file_data, write_plan_file
    from runner.problems import ManifestError

    try:
        write_plan_file(out, plan_file_data(the_plan, out, os.environ))
    except ManifestError as exc:
        for problem in exc.problems:
            click.echo(problem.render())
        raise SystemExit(ExitCode.INVALID) from None
    except OSError as exc:
        click.echo(f"error: --out {out}: {exc.strerror or exc}; choose another path", err=True)
        raise SystemExit(ExitCode.INVALID) from None


def _dry_run(the_plan: Any, state: StateLocation, named: str | None, *, offline: bool) -> bool:
    """Show what the run would fail on that is knowable now; False when it would fail."""
    import os

    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor import lifecycle
    from runner.manifest.drycheck import check_api_credentials
    from runner.sailthru.client import MissingCredentialsError

    problems = lifecycle.plan_dry_run(the_plan, os.environ, state, network=not offline, named=named)
    for problem in problems:
        click.echo(problem.render(), err=not problem.is_error)
    ok = not any(problem.is_error for problem in problems)
    if offline:
        click.echo(
            "note: --offline: API credentials, S3 buckets and SMTP logins not checked", err=True
        )
        return ok
    target = the_plan.loaded.target
    key_env, secret_env = lifecycle.api_env_names(target)
    try:
        client = lifecycle.client_from_env(os.environ, target)
    except MissingCredentialsError as exc:
        if os.environ.get(key_env) and os.environ.get(secret_env):
            click.echo(f"error: {exc}", err=True)  # set, with an address `run` refuses too
            return False
        click.echo(f"note: API credentials not checked: {exc}", err=True)
        return ok
    with client:
        failed = check_api_credentials(client, names=lifecycle.credential_names(target))
    if failed is not None and not failed.refused:  # as `run` does: each job retries then
        click.echo(f"warning: {failed.message}", err=True)
    elif failed is not None:
        click.echo(f"error: {failed.message}", err=True)
        return False
    return ok
