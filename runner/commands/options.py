"""Options shared by several commands, defined once so their names and defaults agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from datetime import date

    from runner.manifest.inputs import Inputs

F = TypeVar("F", bound=Callable[..., Any])

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


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
    if value is None:
        return None
    # lazy: the library loads only when the option is given (`--help` stays fast)
    from runner.manifest.inputs import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def input_options(command: F) -> F:
    """``--var``, ``--vars-file``, ``--date`` and ``--target``: what a plan or run is given
    besides the manifest (``runner.manifest.inputs``)."""
    for option in reversed(
        (
            click.option(
                "--var",
                "var_options",
                multiple=True,
                metavar="NAME=VALUE",
                help="Set a var the manifest declares (repeatable; wins over --vars-file).",
            ),
            click.option(
                "--vars-file",
                "vars_files",
                multiple=True,
                type=click.Path(dir_okay=False),
                help="A YAML file of var: value to set (repeatable; later files win).",
            ),
            click.option(
                "--date",
                "logical_date",
                metavar="YYYY-MM-DD",
                callback=_date,
                help="The logical date, run.date (default: today, UTC): backfill a past day.",
            ),
            click.option(
                "--target",
                metavar="NAME",
                help="One of the manifest's targets: its API, credentials and vars.",
            ),
        )
    ):
        command = option(command)
    return command


def inputs_from_options(
    var_options: tuple[str, ...],
    vars_files: tuple[str, ...],
    logical_date: date | None,
    target: str | None,
) -> Inputs:
    """The ``Inputs`` of ``input_options``' values. Raises ManifestError for a bad vars
    file (its problems at its lines), click.BadParameter for a bad ``--var``."""
    # lazy: the library loads only when the command runs
    from runner.manifest.inputs import make_inputs

    try:
        return make_inputs(
            var_options=var_options, vars_files=vars_files, date=logical_date, target=target
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--var'") from None


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
