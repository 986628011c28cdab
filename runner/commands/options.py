"""Options shared by several commands, defined once so their names and defaults agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from datetime import date

    from runner.manifest.inputs import Inputs

F = TypeVar("F", bound=Callable[..., Any])


def _state(ctx: click.Context, param: click.Parameter, value: str) -> object:
    # lazy: the library loads only when a command runs (`--help` stays fast)
    from runner.executor.state.location import StateLocation

    from_env = ctx.get_parameter_source(param.name or "") is click.core.ParameterSource.ENVIRONMENT
    location = StateLocation(value, from_env=from_env)
    if location.has_password and not from_env:
        # It would show in process lists and CI logs, and no advice could repeat it.
        raise click.BadParameter(
            "a password in the URL on the command line would show in process lists and logs: "
            "put it in PGPASSWORD or ~/.pgpass, or give the whole URL in SAILJOBS_STATE"
        )
    return location


# Where the run state lives (runner.executor.state.DEFAULT_STATE_DIR, not imported: `--help`
# must not load the library): a folder, or a PostgreSQL database shared by many machines.
state_option = click.option(
    "--state",
    "state",
    metavar="DIR|postgresql://…",
    default=".sailjobs",
    show_default=True,
    envvar="SAILJOBS_STATE",
    show_envvar=True,
    callback=_state,
    help="Where the run state is (resume, locks, run history): a folder (SQLite) or a "
    "postgresql:// URL shared by every machine that runs the manifest.",
)


def duration_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    """A duration option (``30s``, ``10m``, ``30d``) as seconds; none or ``0`` is 0."""
    if value is None or value.strip() in ("0", "0s"):
        return 0.0  # --lock-timeout 0: fail at once, as without the option
    # lazy: the library loads only when the option is given (`--help` stays fast)
    from runner.durations import parse_duration

    try:
        return parse_duration(value).total_seconds()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def run_key_option(command: F) -> F:
    """``--run-key``: which of a manifest's runs this is, beside its path."""
    return click.option(
        "--run-key",
        "named",
        metavar="KEY",
        callback=_run_key,
        help="Keep this manifest's runs apart by KEY (pipelines that run it for different "
        "dates at once): a run resumes only a run with the same key.",
    )(command)


def _run_key(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    # lazy: the library loads only when the option is given (`--help` stays fast)
    from runner.executor.state.records import check_run_key

    try:
        check_run_key(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


lock_timeout_option = click.option(
    "--lock-timeout",
    metavar="DURATION",
    callback=duration_seconds,
    help="Wait up to DURATION (30s, 10m) for another run of the manifest to end instead of "
    "failing at once (exit 2 naming its host and pid).",
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
