"""``sailjobs runs [MANIFEST]``: the runs recorded in the state, newest first.

One line per run: its manifest, run id, the host that ran it, start, end, status and its
jobs counted by status (``reopened`` when ``run --retry-failed`` continued it). Only reads:
nothing is sent, and no state folder is created where there is none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.commands.options import state_option
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.executor.state.location import StateLocation


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _counts(counts: dict[str, int]) -> str:
    # lazy: results is light, but commands import the library only when they run
    from runner.results import counts_text

    return counts_text(status for status, n in counts.items() for _ in range(n))


@click.command()
@click.argument("manifest", required=False, type=click.Path(dir_okay=False, path_type=Path))
@state_option
def runs(manifest: Path | None, state: StateLocation) -> None:
    """List the runs recorded in the state (of MANIFEST only, when given), newest first.

    \b
    Status: succeeded, failed, running (a process runs it now) or interrupted (stopped,
    or its process died: `sailjobs run MANIFEST --resume` continues it).
    `sailjobs show RUN_ID` prints a run's report.
    """
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.executor.history import summarize
    from runner.executor.state import DB_NAME, StateError, check_not_lost, is_run_of

    folder = state.folder
    if folder is not None and (not (db := folder / DB_NAME).is_file() or db.stat().st_size == 0):
        try:  # no runs, or a lost state: `run` refuses that folder, and says so here too
            check_not_lost(folder, "sailjobs run MANIFEST --fresh")
        except StateError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(ExitCode.INVALID) from None
        click.echo(f"no runs recorded in {folder}")
        return
    try:
        with state.open() as opened:
            found = [
                s
                for s in summarize(opened)
                if manifest is None or is_run_of(s.run.manifest_key, manifest)
            ]
    except StateError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID) from None
    if not found:
        where = state.folder or state.describe()
        click.echo(f"no runs{f' of {manifest}' if manifest else ''} recorded in {where}")
        return
    rows = [("MANIFEST", "RUN ID", "HOST", "STARTED", "ENDED", "STATUS", "JOBS")]
    for summary in found:
        run = summary.run
        jobs = _counts(summary.counts)
        if summary.reopened:
            times = "once" if summary.reopened == 1 else f"{summary.reopened} times"
            jobs += f" (retried {times})"
        # Runs of one manifest for several run keys, targets or dates: which is which.
        inputs = [run.run_key] if run.run_key else []
        inputs += [str(run.inputs[name]) for name in ("target", "date") if run.inputs.get(name)]
        rows.append(
            (
                run.manifest_path + (f" ({', '.join(inputs)})" if inputs else ""),
                run.run_id,
                run.host or "-",
                _when(run.started_at),
                _when(run.finished_at),
                summary.status,
                jobs,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))
