"""``sailjobs state migrate`` and ``sailjobs state prune``: the run state's upkeep, on a
folder (SQLite) or a PostgreSQL database alike.

``run`` migrates the schema itself on first use; ``migrate`` is for operators who want that
step on its own (before rolling out a new sailjobs to many runners). ``prune`` keeps the
state from growing forever: it deletes old finished runs, never one a resume continues.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

import click

from runner.commands.options import duration_seconds, state_option
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.executor.state.location import StateLocation
    from runner.executor.state.records import RunRecord
    from runner.executor.state.store import RunState


@click.group()
def state() -> None:
    """Keep the run state: migrate its schema, prune old runs."""


def _fail(text: str) -> NoReturn:
    click.echo(f"error: {text}", err=True)
    raise SystemExit(ExitCode.INVALID)


def _nothing_here(location: StateLocation) -> bool:
    """Whether a state folder holds no state (then nothing is created there). A folder whose
    state.db was lost beside the traces of earlier runs is an error, as for ``run``."""
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.state import StateError, check_not_lost

    if location.is_database or location.exists():
        return False
    try:
        check_not_lost(location.scratch_dir, "sailjobs run MANIFEST --fresh")
    except StateError as exc:
        _fail(str(exc))
    click.echo(f"no state in {location.text}: nothing to do")
    return True


def _open(location: StateLocation) -> RunState:
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.state import StateError

    try:
        return location.open()
    except StateError as exc:
        _fail(str(exc))


@state.command()
@state_option
def migrate(state: StateLocation) -> None:
    """Bring the state's schema to this sailjobs' version and say what changed.

    `sailjobs run` does the same on its first use; this does it on its own. A state
    written by a newer sailjobs is left untouched (exit 2).
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.state.migrations import MIGRATIONS, SCHEMA_VERSION

    if _nothing_here(state):
        return
    with _open(state) as opened:
        applied = opened.migrated
    where = state.describe()
    if not applied:
        click.echo(f"{where}: already at schema {SCHEMA_VERSION}")
        return
    done = "; ".join(step.description for step in MIGRATIONS if step.version in applied)
    if applied[0] == 1:  # an empty database: nothing was there to migrate
        click.echo(f"{where}: created at schema {applied[-1]}: {done}")
    else:
        click.echo(f"{where}: schema {applied[0] - 1} → {applied[-1]}: {done}")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _latest_of_each_manifest(opened: RunState) -> set[str]:
    """The newest run of each manifest (and run key, target): what `--retry-failed`
    continues, kept however old it is."""
    latest: dict[str, str] = {}
    for run in opened.runs():  # newest first
        latest.setdefault(run.manifest_key, run.run_id)
    return set(latest.values())


@state.command()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="DURATION",
    callback=duration_seconds,
    help="Delete the finished runs started longer ago than DURATION (30d, 12h).",
)
@click.option("--dry-run", is_flag=True, help="List the runs it would delete; delete nothing.")
@state_option
def prune(older_than: float, dry_run: bool, state: StateLocation) -> None:
    """Delete old finished runs with their jobs and actions.

    Never a run that did not finish (a resume continues it), nor the newest run of each
    manifest (`run --retry-failed` continues it).
    """
    if _nothing_here(state):
        return
    before = time.time() - older_than
    with _open(state) as opened:
        latest = _latest_of_each_manifest(opened)

        def keep(run: RunRecord) -> bool:
            return run.run_id in latest

        # lazy: the library loads only when this command runs (`--help` stays fast)
        from runner.executor.state import StateError

        try:
            runs = (
                opened.prunable(before, keep=keep) if dry_run else opened.prune(before, keep=keep)
            )
        except StateError as exc:
            _fail(str(exc))
            return
    for run in runs:
        click.echo(f"{run.run_id}  {run.manifest_path}  started {_when(run.started_at)}")
    verb = "would delete" if dry_run else "deleted"
    count = f"{len(runs)} run{'s' * (len(runs) != 1)}"
    click.echo(f"{verb} {count} started before {_when(before)} from {state.describe()}")
