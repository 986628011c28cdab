"""Export downloads: streamed, checked, resumable, atomic, private.

The export streams into a temporary file beside the destination (named after the URL's
hash, so only a download of the same link is ever resumed), its length is checked against
``Content-Length``/``Content-Range``, it is fsynced and renamed over the destination in one
step; readers see the old file or the whole new one, never half. Mode 0600: exports hold
personal data. A download cut short resumes with a Range request when the server answers
206, else starts over. 403/404/410 mean the link expired (Sailthru removes export files
about 2 hours after creation): ``ExportExpiredError``, never retried.

Bounded against any server: only http(s) links are fetched; a file larger than the size
limit (announced or received) is refused; each attempt has a total deadline that grows with
the announced size (``MIN_BYTES_PER_SECOND``), so a trickle or an endless chunked answer
ends. A download that fails for good leaves no partial file behind.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from tenacity import RetryCallState

from runner.files import fsync_directory
from runner.limits import MAX_DOWNLOAD_BYTES
from runner.masking import mask, redact_url, register_url
from runner.sailthru.deadline import Exchange, exchange
from runner.sailthru.errors import ApiError, ExportExpiredError
from runner.sailthru.retry import AttemptFailed, RetryConfig, public_cause

DOWNLOAD_CHUNK = 1024 * 1024
EXPIRED_STATUSES = frozenset({403, 404, 410})
DEFAULT_EXPORT_NAME = "export.csv"
# The slowest transfer a download attempt is given time for, beyond the client's total
# timeout: a 1 GB export gets about 70 minutes.
MIN_BYTES_PER_SECOND = 256 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSAFE_CHARACTERS = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class DownloadResult:
    """A finished download: where it is, its size and SHA-256, and whether it was resumed."""

    path: Path
    bytes: int
    sha256: str
    resumed: bool


def safe_filename(name: str | None, default: str = DEFAULT_EXPORT_NAME) -> str:
    """A server-supplied file name reduced to a safe base name (no directories, no dot-files).

    >>> safe_filename("../../etc/passwd")
    'passwd'
    >>> safe_filename("Main List 2024.csv")
    'Main List 2024.csv'
    """
    if not name:
        return default
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_CHARACTERS.sub("_", base).strip(" .")
    base = base[:200]
    return base or default


def filename_from_disposition(header: str | None) -> str | None:
    """The file name a ``Content-Disposition`` header proposes (``filename*`` preferred)."""
    if not header:
        return None
    extended = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if extended:
        value = extended.group(1).strip().strip('"')
        _, _, encoded = value.partition("''")
        return unquote(encoded or value)
    plain = re.search(r'filename\s*=\s*("([^"]*)"|[^;]+)', header, re.IGNORECASE)
    if plain:
        return (plain.group(2) if plain.group(2) is not None else plain.group(1)).strip()
    return None


@dataclass
class _Attempt:
    """State carried from one attempt of a download to the next."""

    part: Path
    validator: str | None = None  # ETag or Last-Modified of the first answer, for If-Range
    resumed: bool = False


class ExportDownloader:
    """Downloads export files over a shared ``requests.Session`` (see the module docstring)."""

    def __init__(
        self,
        session: requests.Session,
        *,
        connect_timeout: float,
        read_timeout: float,
        total_timeout: float,
        retry: RetryConfig,
        sleep: Callable[[float], None],
        logger: logging.Logger,
    ) -> None:
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._total_timeout = total_timeout
        self._retry = retry
        self._sleep = sleep
        self._log = logger

    def with_retry(self, retry: RetryConfig) -> ExportDownloader:
        """The same downloader (session, timeouts, sleep, logger) with another retry policy."""
        view = copy.copy(self)
        view._retry = retry
        return view

    def download(
        self,
        url: str,
        dest: Path | str,
        *,
        created: str | None = None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        keep_partial: bool = True,
    ) -> DownloadResult:
        """Download ``url`` to ``dest``: a file, or a directory (existing, or a string ending
        with a slash) that receives the server's file name, which must be a plain file name.
        A file larger than ``max_bytes`` is refused. When every attempt failed on something
        transient, the partial file stays for the next call to resume, unless
        ``keep_partial`` is False (the caller will not call again); a permanent failure
        never leaves one."""
        register_url(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            # Caught before the first attempt: retrying a file:// link cannot help.
            raise ApiError(
                f"the export link {redact_url(url)} is not an http(s) URL ({scheme or 'no'} "
                "scheme); sailjobs only downloads exports over HTTP(S)",
                hint="check the export_url the server sent, or the URL in the manifest",
            )
        into_directory = Path(dest).is_dir() or str(dest).endswith(("/", os.sep))
        dest = Path(dest)
        directory = dest if into_directory else dest.parent
        directory.mkdir(parents=True, exist_ok=True)
        url_hash = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        stem = "export" if into_directory else dest.name
        attempt = _Attempt(part=directory / f".{stem}.{url_hash}.part")
        if not into_directory:
            # Only for a named file: parts in a shared directory may be other downloads'.
            self._remove_stale_parts(directory, stem, attempt.part)

        def target(response: requests.Response) -> Path:
            if not into_directory:
                return dest
            name = filename_from_disposition(response.headers.get("Content-Disposition"))
            if name is not None:
                return dest / plain_filename(name, "the export server's file name")
            from_url = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
            return dest / plain_filename(
                from_url or DEFAULT_EXPORT_NAME, "the export link's file name"
            )

        retrying = self._retry.retrying(
            retry_on=lambda exc: isinstance(exc, AttemptFailed) and exc.retry,
            sleep=self._sleep,
            before_sleep=self._log_retry,
        )
        try:
            return retrying(self._attempt, url, attempt, target, created, max_bytes)
        except AttemptFailed as failed:
            if not (failed.retry and keep_partial):
                # A partial file that no later call resumes would only fill the disk.
                attempt.part.unlink(missing_ok=True)
            raise failed.error from public_cause(failed.__cause__)

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        reason = failure.reason if isinstance(failure, AttemptFailed) else repr(failure)
        delay = state.next_action.sleep if state.next_action else 0.0
        self._log.warning(
            mask(
                f"export download attempt {state.attempt_number}/{self._retry.attempts} "
                f"failed: {reason}; retrying in {delay:.1f} s"
            )
        )

    @staticmethod
    def _remove_stale_parts(directory: Path, stem: str, keep: Path) -> None:
        # A part left by a download of another link to the same destination is useless.
        for stale in directory.glob(f".{_glob_escape(stem)}.*.part"):
            if stale != keep:
                stale.unlink(missing_ok=True)

    def _attempt(
        self,
        url: str,
        attempt: _Attempt,
        target: Callable[[requests.Response], Path],
        created: str | None,
        max_bytes: int,
    ) -> DownloadResult:
        started = time.monotonic()
        with exchange(self._total_timeout) as current:
            try:
                return self._fetch(url, attempt, target, created, max_bytes, current)
            except AttemptFailed as failed:
                if current.expired:
                    took = time.monotonic() - started
                    raise _transient(
                        f"the download did not finish in {took:.1f} s (the limit for its size: "
                        f"the client's total timeout plus 1 s per "
                        f"{MIN_BYTES_PER_SECOND // 1024} KiB)"
                    ) from failed.__cause__
                raise

    def _fetch(
        self,
        url: str,
        attempt: _Attempt,
        target: Callable[[requests.Response], Path],
        created: str | None,
        max_bytes: int,
        current: Exchange,
    ) -> DownloadResult:
        offset = attempt.part.stat().st_size if attempt.part.exists() else 0
        # identity: Range offsets and Content-Length then count the bytes we store.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if attempt.validator:
                headers["If-Range"] = attempt.validator
        try:
            response = self._session.get(url, headers=headers, stream=True, timeout=self._timeout)
        except requests.RequestException as exc:
            raise _transient(f"cannot reach {redact_url(url)}: {type(exc).__name__}") from exc
        with response:
            status = response.status_code
            if status in EXPIRED_STATUSES:
                attempt.part.unlink(missing_ok=True)
                expired = _expired(status, created)
                raise AttemptFailed(expired, retry=False, reason=expired.message)
            if status == 416:
                # Our part does not fit the file the server has now: start over.
                attempt.part.unlink(missing_ok=True)
                raise _transient("the server refused to resume (HTTP 416); starting over")
            if status == 429 or status >= 500:
                raise _transient(f"the export server answered HTTP {status}", status)
            if status not in (200, 206):
                raise _permanent(
                    ApiError(
                        f"downloading the export failed with HTTP {status}",
                        http_status=status,
                        hint="check the export link",
                    )
                )
            try:
                # Before a byte is written: a name that leaves the folder writes nothing.
                final = target(response)
            except ApiError as refused:
                raise _permanent(refused) from None
            attempt.validator = attempt.validator or _validator(response)
            start, total = _span(response)
            if status == 206 and start != offset:
                attempt.part.unlink(missing_ok=True)
                raise _transient("the server resumed at the wrong offset; starting over")
            if total is not None and total > max_bytes:
                attempt.part.unlink(missing_ok=True)
                raise _permanent(_too_large(f"is {total} bytes", max_bytes))
            # A 200 means the server ignored our Range: the whole file comes again.
            offset = start
            attempt.resumed = offset > 0
            remaining = (total if total is not None else max_bytes) - offset
            current.allow(self._total_timeout + max(remaining, 0) / MIN_BYTES_PER_SECOND)
            hasher = hashlib.sha256()
            size = _write(response, attempt.part, offset, hasher, max_bytes)
            if current.expired:
                # An answer without a length simply ends when its socket is shut: not whole.
                raise _transient("the download was cut at its deadline")
        if total is not None and size != total:
            raise _transient(f"the download was cut short at {size} of {total} bytes")
        os.replace(attempt.part, final)
        fsync_directory(final.parent)
        self._log.info(mask(f"downloaded {size} bytes to {final}"))
        return DownloadResult(final, size, hasher.hexdigest(), attempt.resumed)


def plain_filename(name: str, what: str) -> str:
    """A server-chosen file name as ``safe_filename`` writes it, or ``ApiError`` when the
    name would leave its folder or hide in it (a folder part, ``..``, a leading dot, a
    control character): such a name is refused, not quietly rewritten.

    >>> plain_filename("Main List 2024.csv", "the file name")
    'Main List 2024.csv'
    """
    if (
        not name.strip()
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    ):
        raise ApiError(
            f"{what} {name!r} is not a plain file name (it names a folder, '..', a hidden "
            "file or holds control characters); nothing was written",
            hint="give the download a file name of its own, e.g. download: {path: exports/main.csv}",
        )
    return safe_filename(name)


def _too_large(what: str, max_bytes: int) -> ApiError:
    return ApiError(
        f"the export {what}, more than the download's limit of {max_bytes} bytes; nothing was kept",
        hint="raise the download action's max_bytes if the export is meant to be that big",
    )


def _glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped (a destination named ``a[1].csv``)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _transient(message: str, status: int | None = None) -> AttemptFailed:
    error = ApiError(message, http_status=status, transient=True, hint="")
    return AttemptFailed(error, retry=True, reason=message)


def _permanent(error: ApiError) -> AttemptFailed:
    return AttemptFailed(error, retry=False, reason=error.message)


def _expired(status: int, created: str | None) -> ExportExpiredError:
    when = f" (created {created})" if created else ""
    return ExportExpiredError(
        f"the export link has expired{when}: the export server answered HTTP {status}",
        http_status=status,
        hint="export files are removed about 2 hours after creation; run the export job again",
    )


def _validator(response: requests.Response) -> str | None:
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _span(response: requests.Response) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's full size (None when unknown)."""
    if response.status_code == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None:
            return -1, None
        total = match.group(3)
        return int(match.group(1)), None if total == "*" else int(total)
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _write(
    response: requests.Response, part: Path, offset: int, hasher: hashlib._Hash, max_bytes: int
) -> int:
    """Append (resume) or write the body to ``part``, fsynced; the file's size after it."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
    fd = os.open(part, flags, 0o600)
    with os.fdopen(fd, "ab" if offset else "wb", buffering=0) as handle:
        os.fchmod(fd, 0o600)  # also when the part existed with a looser mode
        if offset:
            _hash_existing(part, offset, hasher)
        sink = _FileSink(handle, hasher)
        received = offset
        try:
            # read1, not iter_content: a read cut short must still hand over what arrived.
            while chunk := response.raw.read1(DOWNLOAD_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    sink.close()
                    part.unlink(missing_ok=True)
                    raise _permanent(_too_large(f"went on past {max_bytes} bytes", max_bytes))
                sink.put(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if sink.error is None:
                # Keep what arrived: the next attempt resumes from here.
                sink.close()
                raise _transient(
                    f"the download broke after {received} bytes ({type(exc).__name__})"
                ) from exc
        finally:
            sink.close()
        if sink.error is not None:
            message = f"cannot write the download to {part}: {sink.error}"
            raise _permanent(ApiError(message, hint="check the disk")) from sink.error
        os.fsync(fd)
    return received


class _FileSink:
    """Writes and hashes the chunks in a background thread, so reading the network never
    waits for the disk or for SHA-256 (seconds per GiB). The bounded queue keeps memory
    constant."""

    QUEUE_CHUNKS = 8

    def __init__(self, handle: IO[bytes], hasher: hashlib._Hash) -> None:
        self._handle = handle
        self._hasher = hasher
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self.QUEUE_CHUNKS)
        self.error: OSError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sailjobs-download", daemon=True)
        self._thread.start()

    def put(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(chunk)

    def close(self) -> None:
        """Wait until every chunk is written and hashed (idempotent)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain, so put() never blocks on a dead writer
            try:
                view = memoryview(chunk)
                while view:
                    view = view[self._handle.write(view) or 0 :]
                self._hasher.update(chunk)
            except OSError as exc:
                self.error = exc


def _hash_existing(part: Path, length: int, hasher: hashlib._Hash) -> None:
    with open(part, "rb") as existing:
        remaining = length
        while remaining > 0:
            chunk = existing.read(min(DOWNLOAD_CHUNK, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            remaining -= len(chunk)
