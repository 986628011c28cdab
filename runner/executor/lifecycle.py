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
import functools
import logging
import os
import shlex
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from runner.executor.actionlists import ActionInterrupted, phases_for, run_action_list
from runner.executor.borrowing import borrow_outputs
from runner.executor.history import load_run, show_command
from runner.executor.polling import Clock
from runner.executor.progress import Progress, RunObserver, log_handler, resume_hint
from runner.executor.retry import Retry, RetryPlan, apply_retry, decide, plan_retry
from runner.executor.scheduler import Scheduler
from runner.executor.splitparts import PART_SEPARATOR
from runner.executor.state import (
    DEFAULT_STATE_DIR,
    JobRecord,
    RunRecord,
    RunState,
    StateError,
    StateLocation,
    StateWriteError,
    check_not_lost,
    check_run_key,
    new_run_id,
    to_datetime,
)
from runner.executor.state import (
    run_key as state_run_key,
)
from runner.executor.state.records import repository_root
from runner.executor.withheld import borrowed_links, links_still_read, refresh_withheld
from runner.exitcodes import ExitCode
from runner.files import file_sha256
from runner.manifest.drycheck import check_api_credentials, dry_run_problems
from runner.manifest.inputs import Inputs, inputs_from_data
from runner.manifest.loaded import LoadedManifest
from runner.manifest.loader import load_manifest
from runner.manifest.models import Target
from runner.manifest.planfile import is_plan_file, load_saved_plan
from runner.manifest.planner import Plan, build_plan
from runner.manifest.render import borrowed_line, plan_context
from runner.manifest.selection import Selection
from runner.masking import register_env_secrets
from runner.plugins import HookFailure, hooks, job_type_owners
from runner.problems import ManifestError, Problem
from runner.results import JobStatus, RunResult, skipped_by_condition
from runner.retries import RetryConfig
from runner.sailthru.client import MissingCredentialsError, SailthruClient

if TYPE_CHECKING:
    from types import FrameType

    from runner.manifest.models import Manifest
    from runner.sandbox import Sandbox
    from runner.sandbox.seed import Seed

log = logging.getLogger("sailjobs.run")

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
    polled_again: tuple[str, ...] = ()  # --retry-failed: timed out, polled with a new timeout


def _load(
    path_or_loaded: str | os.PathLike[str] | LoadedManifest,
    selection: Selection | None,
    inputs: Inputs | None,
) -> tuple[LoadedManifest, Plan, dict[str, object]]:
    """The manifest and its plan, and the options that name a saved plan file it came from."""
    if isinstance(path_or_loaded, str | os.PathLike) and is_plan_file(Path(path_or_loaded)):
        given = (selection and not selection.everything) or (inputs and inputs.args())
        if given:
            raise RunSetupError(
                f"{os.fspath(path_or_loaded)} is a saved plan: its jobs and inputs were chosen "
                "when it was made; make a new plan with the selection or inputs instead"
            )
        # A saved plan: its manifest with the planned values, and only the planned jobs.
        loaded, jobs, saved = load_saved_plan(Path(path_or_loaded))
        planned = build_plan(loaded, selection=Selection.exactly(jobs))
        planned.borrow_pins = dict(saved.data["borrowed"])
        if planned.levels != saved.data["levels"]:  # the graph the reviewer saw, or nothing
            raise RunSetupError(
                f"{os.fspath(path_or_loaded)}: its jobs would run in another order than "
                f"planned ({planned.levels} instead of {saved.data['levels']}); "
                f"make a new plan: `{saved.remake_command()}`"
            )
        return loaded, planned, {"plan": str(saved.path)}
    loaded = (
        load_manifest(Path(path_or_loaded), inputs=inputs)
        if isinstance(path_or_loaded, str | os.PathLike)
        else path_or_loaded
    )
    return loaded, build_plan(loaded, selection=selection), {}


def api_env_names(target: Target | None) -> tuple[str, str]:
    """The env variables holding the API key and secret: the ``--target``'s, or
    SAILTHRU_API_KEY and SAILTHRU_API_SECRET (a target's defaults too)."""
    names = target or Target()
    return names.api_key_env, names.api_secret_env


def client_from_env(env: Mapping[str, str], target: Target | None) -> SailthruClient:
    """The API client of ``--target`` (its URL and the env variables holding its key and
    secret), or of SAILTHRU_API_KEY / _SECRET / _URL; MissingCredentialsError otherwise."""
    key_env, secret_env = api_env_names(target)
    base_url = target.api_url if target is not None else None
    return SailthruClient.from_env(env, key_env=key_env, secret_env=secret_env, base_url=base_url)


def credential_names(target: Target | None) -> str:
    """Where a refused key and secret came from, for the message ("" for the defaults)."""
    if target is None:
        return ""
    return f"{target.api_key_env} and {target.api_secret_env}"


@contextlib.contextmanager
def _client_for(
    client: SailthruClient | None,
    sandbox: Seed | None,
    env: Mapping[str, str],
    target: Target | None,
    progress: RunObserver,
    state: RunState,
) -> Iterator[tuple[SailthruClient, Sandbox | None]]:
    """The run's client (and the embedded sandbox, if any), closed at the end. A client
    from the environment takes the API budget the state shares between runners (with
    PostgreSQL); a client passed in and the embedded sandbox's keep their own."""
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
        own = client_from_env(env, target)
    except MissingCredentialsError as exc:
        raise RunSetupError(f"{exc}; or run against the embedded sandbox with --sandbox") from exc
    if (shared := state.shared_budget(own.base_url, own.api_key)) is not None:
        own.budget = shared
    with own:
        # One signed call that sends no job: wrong credentials are one line, not one
        # refusal per job. A client passed in is its caller's to check. An API out of reach
        # is each job's to retry, as before.
        failed = check_api_credentials(own, names=credential_names(target))
        if failed is not None and failed.refused:
            raise RunSetupError(failed.message)
        if failed is not None:
            progress.message(failed.message, level="warning")
        yield own, None


def _check_sandbox_kinds(plan: Plan, box: Sandbox) -> None:
    """Every job type the run submits has its sandbox behaviour, or nothing is sent."""
    missing = sorted({job.job_type.name for job in plan.jobs.values()} - set(box.job_kinds))
    if missing:
        owners = job_type_owners()
        named = ", ".join(f"{name} (plugin {owners.get(name, '?')})" for name in missing)
        jobs = sorted(job_id for job_id, job in plan.jobs.items() if job.job_type.name in missing)
        raise RunSetupError(
            f"the sandbox cannot run {named}: no JobKind is registered for it through "
            "sailjobs_sandbox_job_kinds (docs/plugins.md); run it against Sailthru instead, "
            f"or leave its jobs out: {' '.join(f'--exclude {shlex.quote(job)}' for job in jobs)}"
        )


def _target_option(client: SailthruClient, box: Sandbox | None) -> dict[str, object]:
    """Where the jobs go, for the views and reports: the embedded sandbox's URL, or the
    API's scheme, host and port (never a path or user info: they could carry a secret)."""
    if box is not None:
        return {"sandbox": box.url}
    parts = urlsplit(client.base_url)
    host_and_port = parts.netloc.rpartition("@")[2]  # as written: [::1]:8642 keeps its brackets
    return {"api_url": f"{parts.scheme}://{host_and_port}"}


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
    """Log records (client retries, plugin failures) and Python warnings shown, masked, by
    the progress view: on the root logger, so that a plugin's own logger or a
    ``warnings.warn`` is never printed unmasked by Python's fallback handler."""
    logger, root = logging.getLogger("sailjobs"), logging.getLogger()
    handler = log_handler(progress)
    handler.setLevel(logging.INFO if progress.verbose else logging.WARNING)
    old_level = logger.level
    root.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        logger.setLevel(old_level)


def _choose_run(
    state: RunState,
    where: _Where,
    key: str,
    resume: bool | None,
    loaded: LoadedManifest,
    sha256: str,
    progress: RunObserver,
    command: str,
) -> _Resume:
    last = state.last_run(key)
    if resume is not False and last is not None and last.unfinished:
        if _other_inputs(last, loaded):
            # Resuming would run it for other inputs than those it started with (or start
            # another run beside it): the user says which.
            raise RunSetupError(
                f"run {last.run_id} of {loaded.path} was interrupted with other inputs than "
                f"those given now; resume it with `{_command_as(command, loaded, last, where)} "
                f"--resume`, or start a new run with `{command} --fresh`"
            )
        if last.manifest_sha256 != sha256:
            progress.message(
                f"{loaded.path} changed since run {last.run_id} was interrupted; jobs already "
                f"submitted are polled, not resubmitted (`{command} --fresh` starts over)",
                level="warning",
            )
        state.reopen_run(last.run_id)
        started = to_datetime(last.started_at) or datetime.now(UTC)
        return _Resume(last.run_id, started, True)
    if resume is True:
        # Insisting: a new run here would submit every job (every import) once more.
        if last is None:
            what, hint = "it has no run in the state", f"`{command}` starts one"
        elif last.succeeded:
            what, hint = f"its last run {last.run_id} succeeded", f"`{command}` starts a new one"
        else:
            what = f"its last run {last.run_id} finished"
            hint = f"`{command} --retry-failed` submits again only what failed in it"
        raise RunSetupError(f"nothing to resume for {loaded.path}: {what}; {hint}")
    run_id = new_run_id()
    start = state.start_run(
        run_id, key, loaded.path, loaded.manifest.name, sha256, loaded.inputs.as_data(),
        run_key=where.named,
    )  # fmt: skip
    return _Resume(run_id, datetime.fromtimestamp(start, UTC), False)


def _other_inputs(last: RunRecord, loaded: LoadedManifest) -> bool:
    """Whether ``last`` ran with other inputs than those given now (a run recorded before
    runs kept their inputs counts as one with none)."""
    inputs = loaded.inputs.as_data()
    return last.inputs != inputs and bool(last.inputs or any(inputs.values()))


def _command_as(command: str, loaded: LoadedManifest, run: RunRecord, where: _Where) -> str:
    """``command`` with the inputs ``run`` was started with instead of today's (the
    manifest's own command when this one applies a saved plan, which takes no inputs)."""
    inputs = inputs_from_data(run.inputs)
    if loaded.frozen_run_date is not None:  # a saved plan's manifest
        return _command_for(loaded.path, where, False, inputs)
    return command.removesuffix(loaded.inputs.command_suffix()) + inputs.command_suffix()


def _choose_retry(
    state: RunState,
    where: _Where,
    key: str,
    loaded: LoadedManifest,
    plan: Plan,
    resubmit: list[str],
    sha256: str,
    progress: RunObserver,
    command: str,
) -> _Resume | None:
    """``--retry-failed``: the last run, its jobs set up to do again what failed; None when
    it has nothing to retry (it succeeded)."""
    last = state.last_run(key)
    if last is None:
        raise RunSetupError(
            f"nothing to retry: {loaded.path} has no run in {state.describe()}; "
            f"`{command}` starts one"
        )
    if _other_inputs(last, loaded):
        raise RunSetupError(
            f"run {last.run_id} of {loaded.path} ran with other inputs than those given now; "
            f"retry it with `{_command_as(command, loaded, last, where)} "
            f"--retry-failed`, or start a new run with `{command}`"
        )
    unknown = [job for job in resubmit if job not in plan.jobs]
    if unknown:
        raise RunSetupError(
            f"--resubmit {unknown[0]}: no such job in this run; jobs: {', '.join(plan.jobs)}"
        )
    records = state.jobs(last.run_id)
    retry = plan_retry(plan, records, named=resubmit)
    if not last.unfinished and retry.nothing_to_do:
        if last.succeeded:
            return None
        gone = sorted(
            job
            for job, record in records.items()
            if job not in plan.jobs
            and PART_SEPARATOR not in job
            and record.status is not JobStatus.SUCCEEDED
        )
        raise RunSetupError(
            f"nothing to retry in {loaded.path} as it is now: run {last.run_id} failed in "
            f"{', '.join(gone) or 'jobs'} no longer in the manifest (or not selected); "
            f"`{command} --fresh` starts a new run"
        )
    if last.manifest_sha256 != sha256:
        progress.message(
            f"{loaded.path} changed since run {last.run_id}; what succeeded is reused and "
            f"jobs at Sailthru are polled, not resubmitted (`{command} --fresh` starts over)",
            level="warning",
        )
    with state.transaction():  # a crash here leaves the run as it was, or all set up
        apply_retry(state, last.run_id, retry)
        state.record_reopened(last.run_id)
    for text in _retry_notes(retry, command):
        progress.message(f"retrying run {last.run_id}: {text}", level="note")
    started = to_datetime(last.started_at) or datetime.now(UTC)
    return _Resume(last.run_id, started, True, tuple(retry.jobs(Retry.POLL)))


def _retry_notes(retry: RetryPlan, command: str) -> list[str]:
    says = {
        Retry.RESUBMIT: "submitting again",
        Retry.POLL: "polling (still running at Sailthru when it timed out)",
        Retry.ACTIONS: "running the failed actions again (the job succeeded)",
    }
    notes = [
        f"{what}: {', '.join(jobs)}"
        for decision, what in says.items()
        if (jobs := retry.jobs(decision))
    ]
    notes.extend(
        f"{job} is left failed: its submission may have created it at Sailthru, and a second "
        "one is not harmless; check the jobs list in Sailthru and, if it is not there, run "
        f"`{command} --retry-failed --resubmit {shlex.quote(job)}`"
        for job in retry.jobs(Retry.AMBIGUOUS)
    )
    return notes


def run_key(
    loaded: LoadedManifest,
    *,
    sandbox: bool = False,
    named: str | None = None,
    legacy: bool = False,
) -> str:
    """The state's identity of a manifest's runs (``runner.executor.state.run_key``): its
    path in its repository, its ``--run-key`` (``named``), its ``--target`` and whether it
    ran on the embedded sandbox. ``legacy``: as sailjobs 0.2 named it."""
    return state_run_key(
        loaded.path, target=loaded.inputs.target, sandbox=sandbox, run_key=named, legacy=legacy
    )


@dataclass(frozen=True)
class _Where:
    """Where a run's state is and which of its manifest's runs it is: what advice repeats."""

    location: StateLocation
    named: str | None = None  # --run-key

    def options(self) -> str:
        named = f" --run-key {shlex.quote(self.named)}" if self.named else ""
        return self.location.option() + named


def _command_for(
    path_or_loaded: str | os.PathLike[str] | LoadedManifest,
    where: _Where,
    sandbox: bool,
    inputs: Inputs,
) -> str:
    """``sailjobs run PATH [--state S] [--run-key K] [--sandbox] [inputs]``: how the user
    ran this manifest, for the advice of messages (paths as typed; the mode options are the
    advice's to add)."""
    typed = (
        os.fspath(path_or_loaded)
        if isinstance(path_or_loaded, str | os.PathLike)
        else str(path_or_loaded.path)
    )
    parts = ["sailjobs", "run", shlex.quote(typed)]
    if sandbox:
        parts.append("--sandbox")
    return " ".join(parts) + where.options() + inputs.command_suffix()


def _show_failure(progress: RunObserver) -> Callable[[HookFailure], None]:
    def hook_failed(failure: HookFailure) -> None:  # every hook's failures, reported here
        progress.message(failure.describe(), level="error")

    return hook_failed


def _rebuilt(state: RunState, run_id: str, command: str, location: StateLocation) -> RunResult:
    result = load_run(state, run_id, location)
    result.command = command
    return result


def run(
    path_or_loaded: str | os.PathLike[str] | LoadedManifest,
    *,
    client: SailthruClient | None = None,
    sandbox: bool = False,
    seed: str | os.PathLike[str] | None = None,
    concurrency: int | None = None,
    state: StateLocation | str | os.PathLike[str] = DEFAULT_STATE_DIR,
    resume: bool | None = None,
    lock_timeout: float = 0.0,
    named: str | None = None,
    selection: Selection | None = None,
    env: Mapping[str, str] | None = None,
    options: Mapping[str, object] | None = None,
    progress: RunObserver | None = None,
    clock: Clock | None = None,
    retry_failed: bool = False,
    resubmit: list[str] | None = None,
    command: str | None = None,
    inputs: Inputs | None = None,
) -> RunResult:
    """Run a manifest (a path or a ``LoadedManifest``) to the end; see the module docstring.

    ``resume``: None resumes the last run of this manifest when it is unfinished, True
    insists (``RunSetupError`` when there is nothing to resume), False (``--fresh``) starts
    a new run. ``retry_failed`` continues the last run, doing again only what failed (see
    ``runner.executor.retry``), also submitting the jobs in ``resubmit`` again; a last
    run that succeeded is returned as it is, with nothing sent. ``command`` is the run
    command as typed, for the advice of messages. ``sandbox`` runs against an embedded
    sandbox (its runs never resume: the sandbox is new) seeded with ``seed``: the
    demo data (``"demo"``, the default) or a seed file's path. ``selection`` runs only the
    jobs it picks; the outputs they read from jobs it leaves out come from those jobs' last
    successful run in the state (``runner.executor.borrowing``). ``inputs`` (var overrides,
    ``--date``, ``--target``) apply to a manifest given by path; a ``LoadedManifest`` carries
    its own. ``state``: a state folder or a ``postgresql://`` URL; ``lock_timeout``: seconds
    to wait for another run of the manifest to end; ``named``: the ``--run-key`` that tells
    this manifest's runs for different dates apart. Raises ``ManifestError``
    (invalid manifest; ``SeedFileError`` for a bad seed file) or ``RunSetupError``; never for
    a job's failure, which is in the result.
    """
    env = os.environ if env is None else env
    progress = progress or Progress()  # the silent observer: a library call shows nothing
    register_env_secrets(env)  # before anything can quote one (a plugin failing to load)
    loaded, plan, plan_option = _load(path_or_loaded, selection, inputs)
    target = loaded.target
    register_env_secrets(env, loaded.secret_env_names)
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
    if resubmit and not retry_failed:
        raise RunSetupError("--resubmit names jobs for --retry-failed to submit again: add it")
    if retry_failed and (sandbox or resume is not None):
        other = "--sandbox" if sandbox else ("--resume" if resume else "--fresh")
        raise RunSetupError(
            f"--retry-failed continues the last run recorded in the state; it cannot be "
            f"combined with {other}"
        )
    # A saved plan carries its inputs: the command that repeats it is `run PLAN` alone.
    typed_inputs = Inputs() if plan_option else loaded.inputs
    if named is not None:
        try:
            check_run_key(named)
        except ValueError as exc:
            raise RunSetupError(str(exc)) from None
    where = _Where(StateLocation.of(state), named)
    key = run_key(loaded, sandbox=sandbox, named=named)
    command = command or _command_for(path_or_loaded, where, sandbox, typed_inputs)
    try:
        folder = where.location.folder
        if resume is not False and not sandbox and folder is not None:
            check_not_lost(folder, f"{command} --fresh")
        # The state before the lock: a lock file is a trace of a run (check_not_lost), so
        # one is only made once state.db exists.
        where.location.make_scratch_dir()
        with where.location.open(env) as opened:
            if not named:  # a state of sailjobs 0.2 named the manifest by its path
                opened.rekey(run_key(loaded, sandbox=sandbox, legacy=True), key)
            borrow_outputs(plan, opened, key)  # a manifest problem: before credentials
            if (
                where.location.is_database
                and not (sandbox or named)
                and repository_root(loaded.path) is None
            ):
                progress.message(_unshared_note(loaded.path), level="note")
            # The last run before waiting for the lock: if another one finishes while this
            # one waits (two pipelines started together), there is nothing left to do.
            before_lock = _last_run_if_readable(opened, key)
            try:
                with (
                    opened.lock(
                        key,
                        loaded.path,
                        timeout=lock_timeout,
                        notice=lambda text: progress.message(text, level="note"),
                    ),
                    _client_for(client, sandbox_seed, env, target, progress, opened) as (api, box),
                ):
                    if box is not None:
                        _check_sandbox_kinds(plan, box)
                    unsendable = borrowed_links(
                        plan,
                        api,
                        _command_for(loaded, where, sandbox, loaded.inputs),
                        _submits(
                            plan, opened, key, False if box else resume, resubmit, retry_failed
                        ),
                        progress,
                    )
                    if unsendable is not None:
                        raise RunSetupError(unsendable)
                    return _run_locked(
                        loaded=loaded,
                        plan=plan,
                        state=opened,
                        where=where,
                        key=key,
                        client=api,
                        resume=False if box is not None else resume,
                        retry=(resubmit or []) if retry_failed else None,
                        command=command,
                        concurrency=concurrency,
                        env=env,
                        options={
                            **(options or {}),
                            **plan_option,
                            **_target_option(api, box),
                            "host": socket.gethostname(),
                            **({"target": loaded.inputs.target} if loaded.inputs.target else {}),
                            **_borrowed_option(plan),
                        },
                        progress=progress,
                        clock=clock,
                        before_lock=before_lock,
                    )
            except StateWriteError as exc:
                last = _last_run_if_readable(opened, key)
                again = f"{command} --resume" if last is not None and last.unfinished else command
                raise RunSetupError(f"{exc}, then run `{again}`") from None
    except StateWriteError as exc:
        raise RunSetupError(f"{exc}, then run `{command}`") from None
    except StateError as exc:
        raise RunSetupError(str(exc)) from exc


def _unshared_note(path: Path) -> str:
    """A shared state, a manifest keyed on its absolute path (``manifest_key``): silently
    one machine's, were it not for this note."""
    return (
        f"{path.resolve()} is not in a git repository, so its runs are named by this "
        "absolute path: a run of it from another folder or machine neither resumes this one "
        "nor waits for its lock; run it from a git checkout to name its runs by its path in "
        "the repository, or give every machine the same --run-key"
    )


def _submits(
    plan: Plan,
    state: RunState,
    key: str,
    resume: bool | None,
    resubmit: list[str] | None,
    retrying: bool,
) -> Callable[[str], bool]:
    """Whether this run submits a job (and so sends its parameters): a job of a continued
    run that has its Sailthru job already is not sent again, unless a retry resubmits it.
    The state is read on the first question only (rare: a borrowed link not given again)."""

    @functools.cache
    def continued_jobs() -> dict[str, JobRecord]:
        continued = _continued(state, key, resume, retrying=retrying)
        return state.jobs(continued.run_id) if continued is not None else {}

    def submits(job: str) -> bool:
        record = continued_jobs().get(job)
        if retrying:
            safe = bool(plan.jobs[job].job_type.resubmit_safe)
            named = job in (resubmit or [])
            return decide(record, resubmit_safe=safe, named=named) is Retry.RESUBMIT
        return record is None or record.remote_job_id is None

    return submits


def _last_run_if_readable(state: RunState, key: str) -> RunRecord | None:
    """The last run, read after a write failed: a full disk still reads; a database out of
    reach does not (the advice then names the plain command, which resumes by default)."""
    try:
        return state.last_run(key)
    except StateError:
        return None


def _run_locked(
    *,
    loaded: LoadedManifest,
    plan: Plan,
    state: RunState,
    where: _Where,
    key: str,
    client: SailthruClient,
    resume: bool | None,
    retry: list[str] | None,
    command: str,
    concurrency: int | None,
    env: Mapping[str, str],
    options: dict[str, object],
    progress: RunObserver,
    clock: Clock | None,
    before_lock: RunRecord | None = None,
) -> RunResult:
    manifest = loaded.manifest
    sha256 = file_sha256(loaded.path)
    _dry_run(plan, env, state, _continued(state, key, resume, retrying=retry is not None))
    if retry is not None:
        found = _choose_retry(state, where, key, loaded, plan, retry, sha256, progress, command)
        if found is None:
            last = state.last_run(key)
            assert last is not None  # _choose_retry raised otherwise
            progress.message(
                f"nothing to retry: run {last.run_id} of {loaded.path} succeeded "
                f"(`{show_command(last.run_id, where.location)}` shows it)",
                level="note",
            )
            return _done_already(state, last.run_id, command, where, options, progress)
        chosen = found
    elif resume is None and (done := _ran_meanwhile(state, key, before_lock, loaded, sha256)):
        outcome = "succeeded" if done.succeeded else "failed"
        retry_hint = "" if done.succeeded else f"; `{command} --retry-failed` retries it"
        progress.message(
            f"nothing left to do: run {done.run_id} of {loaded.path} {outcome} while this "
            f"one waited for its lock (`{show_command(done.run_id, where.location)}` shows "
            f"it){retry_hint}",
            level="note",
        )
        return _done_already(state, done.run_id, command, where, options, progress)
    else:
        chosen = _choose_run(state, where, key, resume, loaded, sha256, progress, command)
    result = RunResult(
        run_id=chosen.run_id,
        manifest_name=manifest.name,
        manifest_path=str(loaded.path),
        started_at=chosen.started_at,
        options=options,
        command=command,
        logical_date=loaded.logical_date,
    )
    records = state.jobs(chosen.run_id) if chosen.resumed else {}
    refresh_withheld(links_still_read(plan, records), client, progress)  # not kept
    stop = threading.Event()
    then = resume_hint(result)

    run_hooks = hooks(on_failure=_show_failure(progress))
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
            state_dir=state.scratch_dir,
            concurrency=concurrency,
            records=records,
            timeouts_from_now=chosen.polled_again,
            clock=clock,
        )
        try:
            progress.run_started(result)
            if chosen.resumed:
                progress.message(f"resuming run {chosen.run_id}", level="note")
            for job_id in plan.borrowed:
                progress.message(borrowed_line(plan, job_id), level="note")
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
            if state.failed is not None:
                # Nothing more can be recorded: no report of a run the state does not
                # hold; the error says how to resume it.
                progress.close()
            else:
                state.end_run(
                    result.run_id,
                    interrupted=result.interrupted,
                    succeeded=result.succeeded and _all_stored_succeeded(state, result.run_id),
                    at=result.finished_at.timestamp(),
                )
                run_hooks.run_finished(result)
                progress.run_finished(result)
    return result


def _ran_meanwhile(
    state: RunState,
    key: str,
    before_lock: RunRecord | None,
    loaded: LoadedManifest,
    sha256: str,
) -> RunRecord | None:
    """The run of this manifest that finished while this one waited for its lock, if any
    (one of the same manifest text and inputs): GitHub's concurrency groups are the model, a
    pipeline that waited for another one running the same manifest has nothing left to do.
    The last run unfinished before the wait and resumed by the other runner counts too.
    ``before_lock``: the last run before the wait."""
    last = state.last_run(key)
    if last is None or last.unfinished or _other_inputs(last, loaded):
        return None
    if last.manifest_sha256 != sha256:
        return None  # another version of the manifest (a newer commit): it has its own work
    if before_lock is not None and before_lock.run_id == last.run_id and not before_lock.unfinished:
        return None  # finished before this run started: running the manifest again is asked
    return last


def _done_already(
    state: RunState,
    run_id: str,
    command: str,
    where: _Where,
    options: dict[str, object],
    progress: RunObserver,
) -> RunResult:
    """The result of a finished run this one has nothing to add to, reported as its own
    (its exit code is that run's)."""
    result = _rebuilt(state, run_id, command, where.location)
    result.options = options  # the --report and --junit asked for now are written
    hooks(on_failure=_show_failure(progress)).run_finished(result)
    progress.run_finished(result)
    return result


def _borrowed_option(plan: Plan) -> dict[str, object]:
    """The jobs not selected whose outputs the run read, for the reports: where from."""
    if not plan.borrowed_from:
        return {}
    return {
        "borrowed": {
            job_id: {
                "run_id": found.run_id,
                "finished_at": found.finished_at.isoformat() if found.finished_at else None,
            }
            for job_id, found in plan.borrowed_from.items()
        }
    }


def _continued(
    state: RunState, key: str, resume: bool | None, *, retrying: bool
) -> RunRecord | None:
    """The last run, when this one continues it (a resume, ``--retry-failed``), else None."""
    last = state.last_run(key)
    if last is None or not (retrying or (resume is not False and last.unfinished)):
        return None
    return last


def _dry_run(
    plan: Plan, env: Mapping[str, str], state: RunState, continued: RunRecord | None
) -> None:
    """What ``sailjobs plan`` checks, again before the first POST: ``ManifestError`` with
    every problem knowable now (nothing is sent). Its warnings are left to the jobs, which
    show them as they are submitted."""
    problems = _checked(plan, env, state, continued, network=True)
    if any(problem.is_error for problem in problems):
        raise ManifestError([problem for problem in problems if problem.is_error])


def _checked(
    plan: Plan,
    env: Mapping[str, str],
    state: RunState | None,
    continued: RunRecord | None,
    *,
    network: bool,
) -> list[Problem]:
    """The dry run's problems. A continued run is checked as of its own start, and only
    for what it has left to do (its succeeded jobs are not sent again)."""
    started, done = None, frozenset[str]()
    if state is not None and continued is not None:
        started = to_datetime(continued.started_at)
        records = state.jobs(continued.run_id)
        done = frozenset(job for job, row in records.items() if row.status is JobStatus.SUCCEEDED)
    return dry_run_problems(
        plan,
        plan_context(plan, env, started),
        env=env,
        network=network,
        continuing=continued is not None,
        done=done,
    )


def plan_dry_run(
    plan: Plan,
    env: Mapping[str, str],
    location: StateLocation,
    *,
    network: bool,
    named: str | None = None,
) -> list[Problem]:
    """The dry run as ``sailjobs plan`` shows it: of the run that ``sailjobs run`` would
    do with this state (resuming its unfinished run, if it has one). Only reads."""
    if not location.exists():
        return _checked(plan, env, None, None, network=network)
    with location.open() as state:
        continued = _continued(state, run_key(plan.loaded, named=named), None, retrying=False)
        return _checked(plan, env, state, continued, network=network)


def _all_stored_succeeded(state: RunState, run_id: str) -> bool:
    """Every job of the run succeeded, also those this process left alone (``--select``)."""
    return all(
        record.status is JobStatus.SUCCEEDED or skipped_by_condition(record.status, record.error)
        for job, record in state.jobs(run_id).items()
        if PART_SEPARATOR not in job
    )


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
