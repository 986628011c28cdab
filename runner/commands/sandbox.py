"""``sailjobs sandbox serve``: run the Sailthru-compatible sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.problems import SeedFileError
    from runner.sandbox import Sandbox


def _seconds(value: str, option: str) -> float:
    """``2s``, ``2h``, ``1h30m`` or a number of seconds (0 allowed)."""
    try:
        seconds = float(value)
    except ValueError:
        # lazy: the library loads only when this command runs (`--help` stays fast)
        from runner.durations import parse_duration

        try:
            return parse_duration(value).total_seconds()
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint=option) from error
    if seconds < 0:
        raise click.BadParameter("must not be negative", param_hint=option)
    return seconds


def _rate(value: float, option: str) -> float:
    if not 0 <= value <= 1:
        raise click.BadParameter("a fraction from 0 to 1", param_hint=option)
    return value


def _start(server: Sandbox, host: str, port: int, data_dir: str | None) -> str | None:
    """Start ``server``; None, or what stopped it as one line the user can act on."""
    try:
        server.start(host=host, port=port)
    except socket.gaierror:
        return f"cannot listen on {host}:{port}: unknown host (check --host)"
    except sqlite3.Error as error:
        return (
            f"cannot use the data directory {data_dir}: {error}"
            " (give --data an empty directory or one a sandbox wrote)"
        )
    except OSError as error:
        if error.errno is not None and error.errno < 0:  # getaddrinfo's codes, re-raised by bind
            return f"cannot listen on {host}:{port}: unknown host (check --host)"
        reason = os.strerror(error.errno) if error.errno else str(error)
        if error.filename is not None:  # the data directory, not the socket
            return f"cannot use the data directory {data_dir}: {reason} (check --data)"
        return f"cannot listen on {host}:{port}: {reason} (choose another --port)"
    return None


def show_seed_problems(error: SeedFileError) -> None:
    """One line per problem of a seed file, then what it means (also for ``run --seed``)."""
    for problem in error.problems:  # on stdout, as `validate` and `run` list a manifest's
        click.echo(problem.render())
    count = len(error.problems)
    click.echo(
        f"{count} problem{'s' * (count != 1)} in the seed file {error.file}; the sandbox did"
        " not start",
        err=True,
    )


@click.group()
def sandbox() -> None:
    """The Sailthru-compatible sandbox (job API, signature checks, faults on demand)."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8642, show_default=True, type=click.IntRange(0, 65535))
@click.option("--data", "data_dir", type=click.Path(file_okay=False), help="SQLite data dir.")
@click.option("--api-key", default="sandbox-key", show_default=True)
@click.option("--secret", default="sandbox-secret", show_default=True)
@click.option(
    "--seed",
    metavar="demo|FILE",
    help="Start with the demo data, or your own from a YAML or CSV seed file.",
)
@click.option("--job-time", default="2s", show_default=True, help="How long a job takes.")
@click.option("--export-ttl", default="2h", show_default=True, help="Export link lifetime.")
@click.option("--smtp", metavar="HOST:PORT", help="Send report emails through this server.")
@click.option("--rate-limit-post", default=40, show_default=True, type=click.IntRange(1))
@click.option("--rate-limit-get", default=300, show_default=True, type=click.IntRange(1))
@click.option(
    "--rate-limit-window",
    default=60,
    show_default=True,
    type=click.IntRange(1),
    metavar="SECONDS",
    help="The rate limits' window (the API's is a minute).",
)
@click.option("--fault-seed", default=0, show_default=True, help="Seed of the fault draws.")
@click.option("--latency", default="0", help="Added to every API answer (e.g. 500ms).")
@click.option("--error-rate", default=0.0, type=float, help="Fraction answered 500/502/503.")
@click.option("--throttle-rate", default=0.0, type=float, help="Fraction answered 429.")
@click.option("--drop-rate", default=0.0, type=float, help="Connections dropped unread.")
@click.option("--drop-after-rate", default=0.0, type=float, help="Handled, answer dropped.")
@click.option("--truncate-rate", default=0.0, type=float, help="Handled, answer cut half-way.")
@click.option("--cut-download-rate", default=0.0, type=float, help="Downloads cut short.")
@click.option("--job-error-rate", default=0.0, type=float, help="Jobs ending in error.")
@click.option("--job-stuck-rate", default=0.0, type=float, help="Jobs stuck in pending.")
@click.option("--job-incomplete-rate", default=0.0, type=float, help="Jobs ending incomplete.")
@click.option("--early-expiry", default=None, help="Export links expire after this instead.")
def serve(**options: Any) -> None:
    """Serve the job API until SIGINT/SIGTERM; prints the base URL, key and secret."""
    # lazy: the library loads only when this command runs (`--help` stays fast)
    from runner.problems import SeedFileError
    from runner.sandbox import Faults, Sandbox

    faults = Faults(
        seed=options["fault_seed"],
        latency=_seconds(options["latency"], "--latency"),
        error_rate=_rate(options["error_rate"], "--error-rate"),
        throttle_rate=_rate(options["throttle_rate"], "--throttle-rate"),
        drop_before_body_rate=_rate(options["drop_rate"], "--drop-rate"),
        drop_after_body_rate=_rate(options["drop_after_rate"], "--drop-after-rate"),
        drop_mid_response_rate=_rate(options["truncate_rate"], "--truncate-rate"),
        cut_download_rate=_rate(options["cut_download_rate"], "--cut-download-rate"),
        job_error_rate=_rate(options["job_error_rate"], "--job-error-rate"),
        job_stuck_rate=_rate(options["job_stuck_rate"], "--job-stuck-rate"),
        job_incomplete_rate=_rate(options["job_incomplete_rate"], "--job-incomplete-rate"),
        early_expiry=(
            _seconds(options["early_expiry"], "--early-expiry")
            if options["early_expiry"] is not None
            else None
        ),
    )
    try:
        server = Sandbox(
            data_dir=options["data_dir"],
            api_key=options["api_key"],
            secret=options["secret"],
            seed=options["seed"],
            job_time=_seconds(options["job_time"], "--job-time"),
            rate_limits={"POST": options["rate_limit_post"], "GET": options["rate_limit_get"]},
            rate_window=options["rate_limit_window"],
            export_ttl=_seconds(options["export_ttl"], "--export-ttl"),
            smtp=options["smtp"],
            faults=faults,
        )
    except SeedFileError as error:
        show_seed_problems(error)
        raise SystemExit(ExitCode.INVALID) from None
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--smtp") from error
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        problem = _start(server, options["host"], options["port"], options["data_dir"])
        if problem is not None:
            click.echo(f"error: {problem}", err=True)
            raise SystemExit(ExitCode.INVALID)
        click.echo(f"Sailthru sandbox at {server.url}")
        click.echo(f"  api key: {server.api_key}")
        click.echo(f"  secret:  {server.secret}")
        click.echo(f"  data:    {server.data_dir}")
        if options["seed"] and not server.seeded:
            click.echo(
                f"note: {server.data_dir} already holds data, kept as it is; --seed loads only"
                " into an empty --data directory",
                err=True,
            )
        click.echo("Press Ctrl+C to stop.", err=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("Sandbox stopped.", err=True)
