"""Options shared by several commands, defined once so their names and defaults agree."""

from __future__ import annotations

from pathlib import Path

import click

# The run state folder (runner.executor.state.DEFAULT_STATE_DIR, not imported: `--help`
# must not load the library).
state_option = click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".sailjobs"),
    show_default=True,
    help="Folder of the run state (resume, locks, run history).",
)

# --select and --exclude (runner.manifest.selection). --only is --select under another name,
# kept for the commands written with it: it selects exactly the same jobs.
select_option = click.option(
    "--select",
    "--only",
    "select",
    multiple=True,
    metavar="SELECTOR",
    help="Run only the jobs it matches: JOB, +JOB (with everything upstream), JOB+ (with "
    "everything downstream), tag:NAME; repeatable, or several separated by spaces. "
    "Jobs it needs that are not selected lend the outputs of their last successful run.",
)
exclude_option = click.option(
    "--exclude",
    multiple=True,
    metavar="SELECTOR",
    help="Leave out the jobs it matches (same forms as --select; repeatable).",
)
