"""``sailjobs show RUN_ID``: a run's report, rebuilt from the run state.

The same builders as the reports a run writes (``--report``, ``--junit``, the GitHub step
summary), so ``show --format json`` is the run's JSON report but for what the state does
not hold: the run's options, the jobs' warnings and which actions an earlier process did
(see ``runner.executor.history``).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import click

from runner.commands.options import state_option
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.executor.state.location import StateLocation
    from runner.results import RunResult

FORMATS = ("text", "json", "junit", "markdown")


@click.command()
@click.argument("run_id")
@state_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text (the run's summary), json (--report), junit (--junit) or markdown (the step "
    "summary).",
)
def show(run_id: str, state: StateLocation, output_format: str) -> None:
    """Print the report of the run RUN_ID (`sailjobs runs` lists them)."""
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.history import load_run
    from runner.executor.state import DB_NAME, StateError

    folder = state.folder
    if folder is not None and (not (db := folder / DB_NAME).is_file() or db.stat().st_size == 0):
        click.echo(
            f"error: no run {run_id!r}: no runs recorded in {folder} (another --state?)",
            err=True,
        )
        raise SystemExit(ExitCode.INVALID)
    try:
        with state.open() as opened:
            result = load_run(opened, run_id, state)
    except StateError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    _register_secrets(result.manifest_path)
    click.echo(render(result, output_format), nl=False)


def _register_secrets(manifest_path: str) -> None:
    """What this process knows to be secret, masked as the run masked it: the secret env
    values set now and the run's manifest's ``secrets:`` (if it is still there and valid).
    The state keeps outputs as the run saw them (a resume needs its export URLs)."""
    # lazy: the loader and masking load only when this command runs
    from runner.manifest.loader import load_manifest
    from runner.masking import register_env_secrets
    from runner.problems import ManifestError

    try:
        listed: frozenset[str] = load_manifest(manifest_path).manifest.secrets
    except (ManifestError, OSError):
        listed = frozenset()
    register_env_secrets(os.environ, listed)


def render(result: RunResult, output_format: str) -> str:
    """The report of ``result`` as the run itself writes it."""
    # lazy: the report builders load only when this command runs
    from runner.builtin.reports import build_report, junit_element, render_github_summary
    from runner.executor.progress import summary_lines

    if output_format == "json":
        return json.dumps(build_report(result), indent=2, ensure_ascii=False) + "\n"
    if output_format == "junit":
        data = ET.tostring(junit_element(result), encoding="utf-8", xml_declaration=True)
        return data.decode("utf-8") + "\n"
    if output_format == "markdown":
        return render_github_summary(result)
    head = [
        f"manifest: {result.manifest_path} ({result.manifest_name})",
        f"host:     {result.options.get('host') or '-'}",
        f"started:  {result.started_at:%Y-%m-%d %H:%M:%SZ}",
        "ended:    " + (f"{result.finished_at:%Y-%m-%d %H:%M:%SZ}" if result.finished_at else "-"),
    ]
    return "\n".join([*head, *summary_lines(result)]) + "\n"
