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
