"""The built-in ``download`` action: save a job's export to a file, once, completely.

::

    on_success:
      - download: {path: "exports/main-${{ run.date }}.csv", overwrite: if-changed}

The bytes travel through the run's client (``SailthruClient.download_export``: streamed to
a temp file, fsynced, renamed into place, mode 0600, resumed with Range after a cut), so
the destination is either absent, the old file, or the complete new one, never half of it.
An export that is already a local file (``ActionContext.export_path``: a ``split: true``
job's joined CSV) is copied the same way instead (``runner.files.copy_atomically``: a temp
file beside the destination, fsynced, mode 0600, renamed), and everything below applies
to it unchanged.

``overwrite`` decides what happens when the destination already exists:

- ``never`` (default): fail, so last night's file is never silently replaced. One
  exception keeps a crashed run resumable: before downloading, the action writes a small
  *claim* in the run state folder (this run, this job, this path). A retry that finds the
  file *and* its own claim knows the file is this run's own download (the crash came after
  the rename, before the executor recorded the action) and re-downloads over it, or, when
  the claim already holds the file's sha256, returns it as is. A file without a claim was
  there before the run, and is left alone. Claims older than a week are removed when a
  new one is written.
- ``always``: replace it.
- ``if-changed``: download beside it, compare sha256, and replace it only if the content
  differs (so its mtime, and anything watching it, moves only on a real change).

Nothing is written outside the manifest's folder unless the manifest says so with
``allow_outside: true``: ``validate`` reports a ``path`` that is absolute, starts with ``~``
or climbs out with ``..``, and at run time the destination (after ``${{ }}`` and the
export's own file name) is checked again, so a server-chosen value cannot move it out.
A server file name (the job's ``filename`` output) must be a plain name: one naming a
folder, ``..`` or a hidden file is refused, never rewritten into some other path.

``max_bytes`` limits the export's size (default ``runner.limits.MAX_DOWNLOAD_BYTES``, the
API's 1 GB plus headroom). The client retries the download (resuming it) as the job's
``retry`` says, so the action is tried once; when that fails, no partial file is kept.

Outputs: ``path`` (absolute), ``bytes``, ``rows`` (data rows after the header, counted with
quoted line breaks handled) and ``sha256``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from runner.actions import (
    ActionContext,
    ActionSettings,
    ActionType,
    DryRunContext,
    SettingProblem,
)
from runner.files import (
    copy_atomically,
    count_data_rows,
    file_sha256,
    fsync_directory,
    write_atomically,
)
from runner.hookspecs import hookimpl
from runner.limits import MAX_DOWNLOAD_BYTES
from runner.masking import register_url
from runner.placeholders import is_expression
from runner.plugins import job_types
from runner.results import JobResult
from runner.sailthru.errors import ApiError, ExportExpiredError
from runner.sailthru.exports import plain_filename

CLAIMS_DIR = "downloads"  # under the run state folder
# A claim only matters until its run resumes; export links die after ~2 hours anyway.
CLAIM_MAX_AGE_SECONDS = 7 * 24 * 3600
# Downloads the export to the given file; returns its size and sha256.
Fetch = Callable[[Path], tuple[int, str]]


class DownloadError(Exception):
    """A download the user must fix (the file exists, the job has no export); not retried."""

    transient = False


class DownloadSettings(ActionSettings):
    # Before ``path``: its check reads this.
    allow_outside: bool = Field(
        False,
        description=(
            "Allow a path outside the manifest's folder (absolute, ~, or climbing out with ..)."
        ),
    )
    path: str = Field(
        min_length=1,
        description=(
            "Where to save the export, relative to the manifest's folder; may use ${{ }}. "
            "A path ending in '/' (or an existing directory) gets the export's own file name."
        ),
    )
    overwrite: Literal["never", "always", "if-changed"] = Field(
        "never",
        description=(
            "When the file exists: 'never' fails, 'always' replaces it, 'if-changed' "
            "replaces it only when the new export's sha256 differs."
        ),
    )
    max_bytes: int = Field(
        MAX_DOWNLOAD_BYTES,
        gt=0,
        description="The largest export to accept, in bytes (default: the API's 1 GB + 50%).",
    )

    @field_validator("path")
    @classmethod
    def _stays_inside(cls, path: str, info: ValidationInfo) -> str:
        if info.data.get("allow_outside", True):  # True, or itself invalid: not checked here
            return path
        if leaves_folder(path):
            raise ValueError(
                f"{path!r} is outside the manifest's folder; write a path inside it (e.g. "
                "exports/main.csv), or add allow_outside: true to the download if that "
                "place is meant"
            )
        return path


def leaves_folder(path: str) -> bool:
    """Whether ``path``, relative to the manifest's folder, names a place outside it."""
    if path.startswith("~") or os.path.isabs(path) or Path(path).is_absolute():
        return True
    return os.path.normpath(path).split(os.sep, 1)[0] == os.pardir


def destination(settings: DownloadSettings, workdir: Path, job: JobResult) -> Path:
    """The file to write: ``path`` under ``workdir``; a folder gets the export's file name.
    Outside ``workdir`` only with ``allow_outside`` (see the module docstring)."""
    path_setting = settings.path
    dest = Path(os.path.expanduser(path_setting))
    if not dest.is_absolute():
        dest = workdir / dest
    if path_setting.endswith(("/", os.sep)) or dest.is_dir():
        name = job.outputs.get("filename") or f"{job.id}.csv"
        try:
            dest = dest / plain_filename(str(name), "the export's file name")
        except ApiError as refused:
            raise DownloadError(
                f"job {job.id!r}: {refused.message} (name the file in the download's path, "
                "e.g. path: exports/main.csv)"
            ) from None
    dest = Path(os.path.abspath(dest))
    if not settings.allow_outside and (
        leaves_folder(path_setting) or not dest.is_relative_to(os.path.abspath(workdir))
    ):
        raise DownloadError(
            f"job {job.id!r}: the download path {path_setting!r} leads to {dest}, outside the "
            f"manifest's folder {workdir}; nothing was written (add allow_outside: true to "
            "the download if that place is meant)"
        )
    return dest


@dataclass(frozen=True)
class DownloadClaim:
    """This run's note that it is writing ``path`` for ``job`` (see the module docstring)."""

    file: Path
    run_id: str
    job: str
    remote_job_id: str | None
    path: str

    @classmethod
    def for_download(
        cls, state_dir: Path, run_id: str, job: JobResult, dest: Path
    ) -> DownloadClaim:
        key = hashlib.sha256(f"{run_id}\0{job.id}\0{dest}".encode()).hexdigest()[:32]
        return cls(
            file=state_dir / CLAIMS_DIR / f"{key}.json",
            run_id=run_id,
            job=job.id,
            remote_job_id=job.remote_job_id,
            path=str(dest),
        )

    def load(self) -> dict[str, Any] | None:
        """What was recorded, if this run claimed this path for this job before."""
        try:
            recorded = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        mine = (recorded.get("run_id"), recorded.get("job"), recorded.get("path"))
        return recorded if mine == (self.run_id, self.job, self.path) else None

    def save(self, sha256: str | None = None) -> None:
        record = {
            "run_id": self.run_id,
            "job": self.job,
            "remote_job_id": self.remote_job_id,
            "path": self.path,
            "sha256": sha256,
        }
        if sha256 is None:
            self._forget_old_claims()
        write_atomically(self.file, json.dumps(record).encode("utf-8"))

    def _forget_old_claims(self) -> None:
        """Keep the claims folder small: nightly runs would otherwise add files forever."""
        cutoff = time.time() - CLAIM_MAX_AGE_SECONDS
        try:
            old = [p for p in self.file.parent.glob("*.json") if p.stat().st_mtime < cutoff]
        except OSError:  # no folder yet, or a claim removed meanwhile by another run
            return
        for path in old:
            path.unlink(missing_ok=True)


def _unwritable_folder(folder: Path) -> str | None:
    """Why files cannot be made in ``folder`` (created when missing), or None."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this user"
    return None


def _export_job_types() -> str:
    names = sorted(name for name, job_type in job_types().items() if job_type.produces_export)
    return ", ".join(names) or "none installed"


class DownloadAction(ActionType):
    name: ClassVar[str] = "download"
    settings_model: ClassVar[type[ActionSettings]] = DownloadSettings
    outputs: ClassVar[frozenset[str]] = frozenset({"path", "bytes", "rows", "sha256"})
    needs_export: ClassVar[bool] = True
    attempts: ClassVar[int | None] = 1  # the client retries and resumes the download itself

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        job = ctx.job
        if job is None:
            raise DownloadError(
                "download saves a job's export; use it in a job's on_success, not in notify"
            )
        dest = destination(settings, ctx.workdir, job)
        fetch = self._fetcher(job, ctx, settings.max_bytes)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if settings.overwrite == "if-changed" and dest.exists():
            size, sha256 = self._replace_if_changed(dest, fetch, ctx)
        elif settings.overwrite == "never":
            size, sha256 = self._download_once(dest, fetch, ctx, job)
        else:  # "always", or "if-changed" with nothing there yet
            size, sha256 = fetch(dest)
        rows = count_data_rows(dest)
        ctx.logger.info("job %s: saved %s (%d bytes, %d rows)", job.id, dest, size, rows)
        return {"path": str(dest), "bytes": size, "rows": rows, "sha256": sha256}

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        """Before the run: a file in the way under ``overwrite: never`` (the export would be
        made, then refused), and a folder that cannot be written."""
        try:
            yield from self._check(settings, ctx)
        except OSError as exc:  # a folder on the way that cannot be searched
            yield SettingProblem("path", f"cannot check where the export goes: {exc}")

    def _check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        path_setting = settings.path
        if is_expression(path_setting):
            return  # it reads a job's outputs: known only during the run
        dest = Path(os.path.expanduser(path_setting))
        if not dest.is_absolute():
            dest = ctx.workdir / dest
        named_by_server = path_setting.endswith(("/", os.sep)) or dest.is_dir()
        folder = dest if named_by_server else dest.parent
        if (
            not named_by_server
            and settings.overwrite == "never"
            and not ctx.continuing  # a resumed run's file may be its own (see the claims)
            and dest.exists()
        ):
            yield SettingProblem(
                "path",
                f"{dest} already exists, and overwrite is never: the download would fail "
                "after the export; remove it, or set overwrite: always (replace it) or "
                "overwrite: if-changed (replace it only when the export differs)",
            )
        if (why := _unwritable_folder(folder)) is not None:
            yield SettingProblem("path", f"cannot save the export in {folder}: {why}")

    @staticmethod
    def _fetcher(job: JobResult, ctx: ActionContext, max_bytes: int) -> Fetch:
        """How to get the export into a file: copy the local one, or download the URL."""
        local = ctx.export_path
        if local is not None:
            if not local.is_file():
                raise DownloadError(
                    f"job {job.id!r}: its export {local} is gone (removed from the run state "
                    f"folder?); nothing was saved; `{ctx.run.retry_command(job.id)}` submits "
                    "the job again"
                )

            def copy(target: Path) -> tuple[int, str]:
                return copy_atomically(local, target)

            return copy
        url = job.outputs.get("export_url")
        created = job.outputs.get("end_time") or job.outputs.get("start_time")
        if not url:
            if job.outputs.get("expired"):
                when = f"created {created}; " if created else ""
                raise DownloadError(
                    f"job {job.id!r}: its export has expired ({when}Sailthru removes export "
                    "links about 2 hours after they are created); "
                    f"`{ctx.run.retry_command(job.id)}` submits the job again"
                )
            raise DownloadError(
                f"job {job.id!r} ({job.job_type}) has no export_url to download; download "
                f"only works after a job that produces an export ({_export_job_types()})"
            )
        register_url(str(url))
        client = ctx.client
        if client is None:
            raise DownloadError("download needs the run's API client, and this run has none")

        def fetch(target: Path) -> tuple[int, str]:
            try:
                # keep_partial=False: this is the action's only try (see ``attempts``).
                result = client.download_export(
                    str(url), target, created=created, max_bytes=max_bytes, keep_partial=False
                )
            except ExportExpiredError as exc:
                # Downloading again (all a plain --retry-failed does) cannot help; a new export can.
                raise ExportExpiredError(
                    exc.message,
                    code=exc.code,
                    http_status=exc.http_status,
                    request=exc.request,
                    hint=f"`{ctx.run.retry_command(job.id)}` submits the export job again",
                ) from exc
            return result.bytes, result.sha256

        return fetch

    @staticmethod
    def _download_once(
        dest: Path, fetch: Fetch, ctx: ActionContext, job: JobResult
    ) -> tuple[int, str]:
        claim = DownloadClaim.for_download(ctx.state_dir, ctx.run.run_id, job, dest)
        recorded = claim.load()
        if dest.exists():
            if recorded is None:
                raise DownloadError(
                    f"{dest} already exists; remove it, or set overwrite: always (replace it) "
                    "or overwrite: if-changed (replace it only when the export differs)"
                )
            done = recorded.get("sha256")
            same_job = recorded.get("remote_job_id") == job.remote_job_id
            if done and same_job and file_sha256(dest) == done:
                ctx.logger.info("job %s: %s was already saved by this run", job.id, dest)
                return dest.stat().st_size, done
        else:
            claim.save()  # before the download: a crash after the rename still finds it
        size, sha256 = fetch(dest)
        claim.save(sha256)
        return size, sha256

    @staticmethod
    def _replace_if_changed(dest: Path, fetch: Fetch, ctx: ActionContext) -> tuple[int, str]:
        # A fixed name (not a random one): a run resumed after a crash finds its partial file.
        staging = dest.with_name(f".{dest.name}.sailjobs-new")
        try:
            size, sha256 = fetch(staging)
            if file_sha256(dest) == sha256:
                ctx.logger.info("%s is unchanged (sha256 %s); kept the old file", dest, sha256)
                return dest.stat().st_size, sha256
            os.replace(staging, dest)
            fsync_directory(dest.parent)
            return size, sha256
        finally:
            staging.unlink(missing_ok=True)


@hookimpl
def sailjobs_action_types() -> list[ActionType]:
    return [DownloadAction()]
