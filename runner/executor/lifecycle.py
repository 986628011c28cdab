"""``run()``: a manifest from file to finished jobs, resumable, with hooks and notify actions.

The order of a run:

1. load and plan the manifest (``ManifestError`` with every problem: nothing is sent);
2. name every missing environment variable at once (``RunSetupError``: nothing is sent);
3. the client (from the environment, or an embedded sandbox with ``sandbox=True``);
4. the run state: lock the manifest, resume its unfinished last run or start a new one;
5. ``sailjobs_run_started`` → the scheduler (``sailjobs_job_submitted`` /
   ``sailjobs_job_finished`` per job) → the manifest's ``notify`` actions →
   ``sailjobs_run_finished`` (also for an interrupted run).

SIGINT/SIGTERM stop submitting, wait for POSTs already sent (so their job_ids are stored),
write the state and return with ``interrupted``; running the same command again resumes.
A second signal exits at once (the state is already consistent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runner.executor.actionlists import ActionInterrupted, phases_for, run_action_list
from runner.executor.polling import Clock
from runner.executor.progress import Progress, RunObserver, log_handler, resume_hint
from runner.executor.scheduler import Scheduler
from runner.executor.state import (
    ManifestLock,
    RunState,
    StateError,
    manifest_key,
    new_run_id,
    to_datetime,
)
from runner.exitcodes import ExitCode
from runner.files import file_sha256
from runner.manifest.loaded import LoadedManifest
from runner.manifest.loader import load_manifest
from runner.manifest.planner import Plan, build_plan
from runner.plugins import HookFailure, hooks
from runner.results import RunResult
from runner.retries import RetryConfig
from runner.sailthru.client import MissingCredentialsError, SailthruClient

if TYPE_CHECKING:
    from types import FrameType

    from runner.manifest.models import Manifest
    from runner.sandbox import Sandbox
    from runner.sandbox.seed import Seed

log = logging.getLogger("sailjobs.run")

DEFAULT_STATE_DIR = Path(".sailjobs")
SANDBOX_JOB_TIME = 1.0  # seconds per sandbox job under --sandbox: the demo takes seconds


class RunSetupError(Exception):
    """The run cannot start (missing env variables or credentials, a locked state dir).

    The user can fix it; the message is one line saying what and how. Nothing was sent.
    """


@dataclass
class _Resume:
    run_id: str
    started_at: datetime
    resumed: bool


def _load(
    path_or_loaded: str | os.PathLike[str] | LoadedManifest, only: list[str] | None
) -> tuple[LoadedManifest, Plan]:
    loaded = (
        load_manifest(Path(path_or_loaded))
        if isinstance(path_or_loaded, str | os.PathLike)
        else path_or_loaded
    )
    return loaded, build_plan(loaded, only=list(only) if only else None)


@contextlib.contextmanager
def _client_for(
    client: SailthruClient | None, sandbox: Seed | None, env: Mapping[str, str]
) -> Iterator[tuple[SailthruClient, Sandbox | None]]:
    """The run's client (and the embedded sandbox, if any), closed at the end."""
    if client is not None:
        yield client, None
        return
    if sandbox is not None:
        # lazy: the sandbox (werkzeug, its job workers) loads only for --sandbox
        from runner.sandbox import Sandbox

        with (
            Sandbox(seed=sandbox, job_time=SANDBOX_JOB_TIME) as box,
            SailthruClient(box.api_key, box.secret, box.url) as own,
        ):
            yield own, box
        return
    try:
        own = SailthruClient.from_env(env)
    except MissingCredentialsError as exc:
        raise RunSetupError(f"{exc}; or run against the embedded sandbox with --sandbox") from exc
    with own:
        yield own, None


def _target_option(client: SailthruClient, box: Sandbox | None) -> dict[str, object]:
    """Where the jobs go, for the views and reports: the embedded sandbox's URL, or the
    API's scheme, host and port (never a path or user info: they could carry a secret)."""
    if box is not None:
        return {"sandbox": box.url}
    parts = urlsplit(client.base_url)
    port = f":{parts.port}" if parts.port else ""
    return {"api_url": f"{parts.scheme}://{parts.hostname}{port}"}


def _sandbox_seed(seed: str | os.PathLike[str] | None) -> Seed:
    """The embedded sandbox's seed: "demo", or a seed file read and checked now."""
    # lazy: the sandbox (and its seed-file reader) loads only for --sandbox
    from runner.sandbox.seed import resolve_seed

    return resolve_seed(seed) or "demo"


@contextlib.contextmanager
def _signals(stop: threading.Event, progress: RunObserver, then: str) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop``; a second one exits at once. Main thread only.

    ``then`` says what running the command again does (resume, or start over)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            progress.close()
            os._exit(130)
        stop.set()
        progress.message(
            f"stopping: no new jobs are submitted; {then} (interrupt again to quit at once)",
            level="warning",
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _log_through(progress: RunObserver) -> Iterator[None]:
    """Library log records (client retries, plugin failures) shown by the progress view."""
    logger = logging.getLogger("sailjobs")
    handler = log_handler(progress)
    handler.setLevel(logging.INFO if progress.verbose else logging.WARNING)
    old_level = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _choose_run(
    state: RunState,
    key: str,
    resume: bool | None,
    loaded: LoadedManifest,
    sha256: str,
    progress: RunObserver,
) -> _Resume:
    last = state.last_run(key)
    if resume is not False and last is not None and last.unfinished:
        if last.manifest_sha256 != sha256:
            progress.message(
                f"{loaded.path} changed since run {last.run_id} was interrupted; jobs already "
                "submitted are polled, not resubmitted (use --fresh to start over)",
                level="warning",
            )
        state.reopen_run(last.run_id)
        started = to_datetime(last.started_at) or datetime.now(UTC)
        return _Resume(last.run_id, started, True)
    if resume is True:
        progress.message(
            f"nothing to resume for {loaded.path}: its last run finished; starting a new run",
            level="warning",
        )
    run_id = new_run_id()
    state.start_run(run_id, key, loaded.path, loaded.manifest.name, sha256)
    return _Resume(run_id, datetime.now(UTC), False)


def run(
    path_or_loaded: str | os.PathLike[str] | LoadedManifest,
    *,
    client: SailthruClient | None = None,
    sandbox: bool = False,
    seed: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    state_dir: Path | str = DEFAULT_STATE_DIR,
    resume: bool | None = None,
    only: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
    progress: RunObserver | None = None,
    clock: Clock | None = None,
) -> RunResult:
    """Run a manifest (a path or a ``LoadedManifest``) to the end; see the module docstring.

    ``resume``: None resumes the last run of this manifest when it is unfinished, True
    says so explicitly, False (``--fresh``) starts a new run. ``sandbox`` runs against an
    embedded sandbox (its runs never resume: the sandbox is new) seeded with ``seed``: the
    demo data (``"demo"``, the default) or a seed file's path. Raises ``ManifestError``
    (invalid manifest; ``SeedFileError`` for a bad seed file) or ``RunSetupError``; never for
    a job's failure, which is in the result.
    """
    env = os.environ if env is None else env
    progress = progress or Progress()  # the silent observer: a library call shows nothing
    loaded, plan = _load(path_or_loaded, only)
    for warning in loaded.warnings:
        progress.message(warning.render(), level="note")  # render() says "warning"
    missing = plan.missing_env(env)
    if missing:
        names = ", ".join(sorted(missing))
        raise RunSetupError(
            f"{loaded.path}: environment variables not set: {names} (the manifest reads them "
            "through ${{ env.* }}); set them and run again"
        )
    if seed is not None and not sandbox:
        raise RunSetupError("a seed gives the embedded sandbox its data: run with --sandbox")
    # Checked before the state is locked: a bad seed file stops the run with nothing sent.
    sandbox_seed = _sandbox_seed(seed) if sandbox and client is None else None
    if sandbox and resume:
        progress.message(
            "--resume has no effect with --sandbox: the embedded sandbox starts empty, so the "
            "run starts over",
            level="warning",
        )
    state_dir = Path(state_dir)
    key = manifest_key(loaded.path) + ("-sandbox" if sandbox else "")
    try:
        lock = ManifestLock(state_dir, key, loaded.path)
        lock.acquire()
    except (StateError, OSError) as exc:
        raise RunSetupError(str(exc)) from exc
    try:
        with RunState(state_dir) as state, _client_for(client, sandbox_seed, env) as (api, box):
            return _run_locked(
                loaded=loaded,
                plan=plan,
                state=state,
                state_dir=state_dir,
                key=key,
                client=api,
                resume=False if box is not None else resume,
                concurrency=concurrency,
                env=env,
                options={**(options or {}), **_target_option(api, box)},
                progress=progress,
                clock=clock,
            )
    except StateError as exc:
        raise RunSetupError(str(exc)) from exc
    finally:
        lock.release()


def _run_locked(
    *,
    loaded: LoadedManifest,
    plan: Plan,
    state: RunState,
    state_dir: Path,
    key: str,
    client: SailthruClient,
    resume: bool | None,
    concurrency: int | None,
    env: Mapping[str, str],
    options: dict[str, object],
    progress: RunObserver,
    clock: Clock | None,
) -> RunResult:
    manifest = loaded.manifest
    chosen = _choose_run(state, key, resume, loaded, file_sha256(loaded.path), progress)
    result = RunResult(
        run_id=chosen.run_id,
        manifest_name=manifest.name,
        manifest_path=str(loaded.path),
        started_at=chosen.started_at,
        options=options,
    )
    records = state.jobs(chosen.run_id) if chosen.resumed else {}
    stop = threading.Event()
    then = resume_hint(result)

    def hook_failed(failure: HookFailure) -> None:  # every hook's failures, reported here
        progress.message(failure.describe(), level="error")

    run_hooks = hooks(on_failure=hook_failed)
    with _log_through(progress), _signals(stop, progress, then):
        scheduler = Scheduler(
            plan=plan,
            manifest=manifest,
            manifest_dir=loaded.path.parent,
            run=result,
            state=state,
            client=client,
            env=env,
            progress=progress,
            hooks=run_hooks,
            stop=stop,
            state_dir=state_dir,
            concurrency=concurrency,
            records=records,
            clock=clock,
        )
        try:
            progress.run_started(result)
            if chosen.resumed:
                progress.message(f"resuming run {chosen.run_id}", level="note")
            run_hooks.run_started(result)
            try:
                scheduler.run()
            except BaseException:
                # Cut short by an error: not finished. Recorded as interrupted, it resumes.
                result.interrupted = True
                raise
            result.interrupted = stop.is_set()
            if not result.interrupted:
                _notify(scheduler, manifest, result, progress)
                result.interrupted = stop.is_set()
        finally:
            result.finished_at = datetime.now(UTC)
            state.end_run(result.run_id, interrupted=result.interrupted, succeeded=result.succeeded)
            run_hooks.run_finished(result)
            progress.run_finished(result)
    return result


def exit_code_for(result: RunResult) -> int:
    """The process exit code of the command-line contract for a finished (or stopped) run."""
    if result.interrupted:
        return ExitCode.INTERRUPTED
    if not result.succeeded or result.options.get("notify_failed"):
        return ExitCode.JOB_FAILED
    return ExitCode.OK


def _notify(
    scheduler: Scheduler, manifest: Manifest, result: RunResult, progress: RunObserver
) -> None:
    """The manifest's ``notify`` lists: on_success or on_failure, then always."""
    notify = manifest.notify
    retry = RetryConfig.of(manifest.defaults.retry)
    try:
        for phase in phases_for(result.succeeded):
            specs = getattr(notify, phase)
            if not specs:
                continue
            failure = run_action_list(scheduler.action_env, phase, specs, job=None, retry=retry)
            if failure is not None:
                # Not a job's failure, but the run did not do all it was asked to: exit 1.
                result.options["notify_failed"] = failure
    except ActionInterrupted:
        progress.message("notify actions interrupted; they run when the run resumes", "warning")
