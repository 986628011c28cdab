"""``sailjobs validate PATH...``: every problem of every manifest, one line each; exit 0 or 2."""

from __future__ import annotations

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "github"]),
    default="text",
    show_default=True,
    help="github: ::error annotations for GitHub Actions.",
)
@click.option(
    "--deep", is_flag=True, help="Also check the content of the files jobs upload (slower)."
)
def validate(paths: tuple[str, ...], output_format: str, deep: bool) -> None:
    """Check manifests (files, or folders of *.yaml / *.yml) without sending anything.

    Needs no credentials and no environment variables. Exit 0 when every manifest is
    valid, 2 otherwise, with one `file:line:col: where: what` line per problem.

    In a folder, YAML files of other tools (no `version: 1` and a key no manifest has,
    e.g. a GitHub workflow or a docker-compose file) are skipped, one line each; a file
    named on the command line is always checked.
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.exitcodes import ExitCode
    from runner.manifest import folders
    from runner.plugins import PluginError

    try:
        files, skipped = folders.select_manifests(paths)
    except folders.ManifestPathError as exc:
        click.echo(f"sailjobs validate: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    for skip in skipped:
        click.echo(skip.render(), err=True)
    invalid = 0
    total = 0
    for file in files:
        try:
            problems = folders.validate_file(file, deep=deep)
        except PluginError as exc:  # a broken plugin: the user fixes or disables it
            click.echo(f"sailjobs validate: {exc}", err=True)
            raise SystemExit(ExitCode.INVALID) from None
        errors = [problem for problem in problems if problem.is_error]
        total += len(errors)
        invalid += bool(errors)
        for problem in problems:
            click.echo(problem.render_github() if output_format == "github" else problem.render())
    if invalid:
        click.echo(
            f"{total} problem{'s' * (total != 1)} in {invalid} of {len(files)} "
            f"manifest{'s' * (len(files) != 1)}",
            err=True,
        )
        raise SystemExit(ExitCode.INVALID)
    click.echo(f"{len(files)} manifest{'s' * (len(files) != 1)} valid", err=True)
