"""``sailjobs plan PATH``: the jobs in order with resolved parameters; secrets masked."""

from __future__ import annotations

from typing import Any

import click


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
@click.option(
    "--offline",
    is_flag=True,
    help="Skip the checks that reach a server (API credentials, S3 buckets, SMTP logins).",
)
def plan(path: str, output_format: str, only: tuple[str, ...], offline: bool) -> None:
    """Show which jobs will run, in which order, with which parameters.

    Fails (exit 2) on an invalid manifest, names every environment variable the plan
    reads that is not set, and is a dry run: each problem the run would meet before or
    after sending a job, when it is knowable now (parameters once resolved, files to
    upload, download targets in the way, each action's configuration and credentials, the
    API credentials), is shown at its line.
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
        loaded = load_manifest(path)
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
    if not _dry_run(the_plan, offline=offline):
        raise SystemExit(ExitCode.INVALID)
    renderer = render_json if output_format == "json" else render_text
    click.echo(renderer(the_plan, os.environ))


def _dry_run(the_plan: Any, *, offline: bool) -> bool:
    """Show what the run would fail on that is knowable now; False when it would fail."""
    import os

    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.manifest.drycheck import check_api_credentials, dry_run_problems
    from runner.manifest.render import plan_context
    from runner.sailthru.client import (
        ENV_API_KEY,
        ENV_API_SECRET,
        MissingCredentialsError,
        SailthruClient,
    )

    context = plan_context(the_plan, os.environ)
    problems = dry_run_problems(the_plan, context, env=os.environ, network=not offline)
    for problem in problems:
        click.echo(problem.render(), err=not problem.is_error)
    ok = not any(problem.is_error for problem in problems)
    if offline:
        click.echo(
            "note: --offline: API credentials, S3 buckets and SMTP logins not checked", err=True
        )
        return ok
    try:
        client = SailthruClient.from_env(os.environ)
    except MissingCredentialsError as exc:
        if os.environ.get(ENV_API_KEY) and os.environ.get(ENV_API_SECRET):
            click.echo(f"error: {exc}", err=True)  # set, with an address `run` refuses too
            return False
        click.echo(f"note: API credentials not checked: {exc}", err=True)
        return ok
    with client:
        failed = check_api_credentials(client)
    if failed is not None:
        click.echo(f"error: {failed.message}", err=True)
        return False
    return ok
