"""``sailjobs run``: parse options, call ``runner.executor.run``, render, exit per the contract."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.commands.options import (
    exclude_option,
    input_options,
    inputs_from_options,
    lock_timeout_option,
    run_key_option,
    select_option,
    state_option,
)
from runner.commands.sandbox import show_seed_problems
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.executor.state.location import StateLocation


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sandbox", is_flag=True, help="Run against an embedded sandbox (no credentials).")
@click.option(
    "--seed",
    metavar="demo|FILE",
    help="With --sandbox: its data, the demo (default) or a YAML or CSV seed file.",
)
@click.option("--concurrency", type=click.IntRange(min=1), help="Jobs in flight at once.")
@state_option
@lock_timeout_option
@run_key_option
@click.option(
    "--resume/--fresh",
    default=None,
    help="Resume the last unfinished run (exit 2 if there is none), or start over.",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Continue the last run: submit again only its failed, timed-out and skipped jobs.",
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report."
)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML.")
@click.option(
    "--resubmit",
    multiple=True,
    metavar="JOB",
    help="With --retry-failed: submit JOB again even if it may exist at Sailthru (repeatable).",
)
@select_option
@exclude_option
@click.option("--quiet", "-q", is_flag=True, help="Only errors and the summary.")
@click.option("--verbose", "-v", is_flag=True, help="Every poll, retry and action.")
@input_options
def run(
    path: Path,
    sandbox: bool,
    seed: str | None,
    concurrency: int | None,
    state: StateLocation,
    lock_timeout: float,
    named: str | None,
    resume: bool | None,
    retry_failed: bool,
    report: Path | None,
    junit: Path | None,
    resubmit: tuple[str, ...],
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    quiet: bool,
    verbose: bool,
    var_options: tuple[str, ...],
    vars_files: tuple[str, ...],
    logical_date: date | None,
    target: str | None,
) -> None:
    """Run a manifest: submit each job when its needs are done, poll it, run its actions.

    PATH may also be a plan saved by `sailjobs plan MANIFEST --out PLAN` (recognised by its
    content, a JSON file starting with "format": "sailjobs-plan"): its manifest runs with
    exactly the planned parameters, or nothing runs (exit 2) if the manifest, a file it
    reads or the plugins changed since the plan was made.

    \b
    The run state (job ids, statuses, finished actions) lives in --state; an interrupted
    run (Ctrl-C, a crash) resumes when the same command runs again (or with --resume).
    --retry-failed continues the last run under its run id: it submits again its failed,
    timed-out and skipped jobs, polls jobs that timed out while still running at
    Sailthru, re-runs the failed actions of jobs that succeeded and reuses the rest. An
    import that may or may not have been created is left alone unless named with
    --resubmit JOB (after checking the jobs list in Sailthru: it is not there).
    Exit codes: 0 all jobs succeeded (or nothing to retry), 1 a job failed, 2 invalid
    manifest or usage, 130 interrupted (--resume continues it).
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.lifecycle import RunSetupError, exit_code_for
    from runner.executor.lifecycle import run as run_manifest
    from runner.executor.progress import make_progress
    from runner.manifest.planfile import PlanFileError
    from runner.manifest.selection import Selection
    from runner.plugins import PluginError
    from runner.problems import ManifestError, SeedFileError

    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose cannot be used together")
    if seed is not None and not sandbox:
        raise click.UsageError("--seed gives the embedded sandbox its data: add --sandbox")
    if retry_failed and resume is not None:
        other = "--resume" if resume else "--fresh"
        raise click.UsageError(f"--retry-failed and {other} cannot be used together")
    if resubmit and not retry_failed:
        raise click.UsageError("--resubmit JOB goes with --retry-failed")
    if retry_failed and sandbox:
        raise click.UsageError(
            "--retry-failed continues a run of the state; the embedded sandbox starts empty"
        )
    for option, report_path in (("--report", report), ("--junit", junit)):
        if report_path is not None and (why := _unwritable(report_path)):
            # Found now, not after an hour of jobs whose report CI then cannot find.
            click.echo(f"error: {option} {report_path}: {why}; choose another path", err=True)
            raise SystemExit(ExitCode.INVALID)
    options = {key: str(value) for key, value in (("report", report), ("junit", junit)) if value}
    progress = make_progress(quiet=quiet, verbose=verbose)
    try:
        inputs = inputs_from_options(var_options, vars_files, logical_date, target)
        result = run_manifest(
            path,
            sandbox=sandbox,
            seed=seed,
            concurrency=concurrency,
            state=state,
            lock_timeout=lock_timeout,
            named=named,
            resume=resume,
            retry_failed=retry_failed,
            resubmit=list(resubmit),
            selection=Selection.of(select, exclude),
            options=options,
            progress=progress,
            inputs=inputs,
        )
    except SeedFileError as exc:
        progress.close()
        show_seed_problems(exc)
        raise SystemExit(ExitCode.INVALID) from None
    except ManifestError as exc:
        progress.close()
        for problem in exc.problems:
            click.echo(problem.render())
        count = len(exc.problems)
        click.echo(f"{count} problem{'s' * (count != 1)} in {path}; nothing was sent", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    except PlanFileError as exc:
        progress.close()
        for line in exc.lines:
            click.echo(f"error: {line}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    except (RunSetupError, PluginError) as exc:
        progress.close()
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    except KeyboardInterrupt:  # outside the run's own Ctrl-C handling (loading, starting)
        progress.close()
        click.echo("interrupted (run the same command again to resume)", err=True)
        raise SystemExit(ExitCode.INTERRUPTED) from None
    finally:
        progress.close()
    raise SystemExit(exit_code_for(result))


def _unwritable(path: Path) -> str | None:
    """Why a report file could not be written there (its folder is made if missing), or None."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return f"{folder} is a file, not a folder"
    except OSError as exc:
        return f"cannot create the folder {folder} ({exc.strerror or exc})"
    try:  # the way the report will be written: a temporary file beside it
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        return f"cannot write in the folder {folder} ({exc.strerror or exc})"
    os.close(fd)
    os.unlink(probe)
    return None
