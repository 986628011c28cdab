"""The Sailthru API client: the one place that talks to the API.

``SailthruClient`` signs and encodes calls exactly like the official clients
(``runner.sailthru.wire``), streams upload files from disk, classifies every failure
(``runner.sailthru.errors``), retries what is safe to retry (``runner.retries``, carried out
by tenacity: exponential backoff, full jitter, a cap; each attempt logged on
``sailjobs.client``), keeps every endpoint under its rate limit (``runner.sailthru.ratelimit``)
and downloads exports atomically (``runner.sailthru.exports``).

A POST /job is only retried when it cannot have created a job (the body was never fully
sent, or the API answered 429), or, for ambiguous failures (a timeout, a dropped connection
or a 5xx after the body was sent), when the caller says a second job is harmless
(``resubmit_safe``). Otherwise ``AmbiguousSubmitError`` hands the decision back.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypedDict, Unpack, cast
from urllib.parse import urljoin, urlsplit

import requests
from tenacity import RetryCallState

from runner.jsontypes import JSONDict, JSONValue
from runner.limits import MAX_API_ANSWER_BYTES, MAX_DOWNLOAD_BYTES
from runner.masking import mask, redact_url, register_secret
from runner.sailthru.deadline import DeadlineAdapter, Exchange, exchange
from runner.sailthru.errors import (
    AmbiguousSubmitError,
    ApiError,
    ClientError,
    ExportExpiredError,
    MissingCredentialsError,
    error_from_body,
    is_transient,
)
from runner.sailthru.exports import DownloadResult, ExportDownloader, safe_filename
from runner.sailthru.jobinfo import JobInfo
from runner.sailthru.ratelimit import Budget, RateLimitBudget, RateLimitState, default_budget
from runner.sailthru.retry import (
    TRANSPORT_ERRORS,
    AttemptFailed,
    RetryConfig,
    describe_exception,
    public_cause,
)
from runner.sailthru.wire import (
    UPLOAD_CHUNK,
    RequestBody,
    form_body,
    multipart_body,
    signed_params,
)

__all__ = [
    "AmbiguousSubmitError",
    "ApiError",
    "Budget",
    "ClientError",
    "DownloadResult",
    "ExportExpiredError",
    "JobInfo",
    "MissingCredentialsError",
    "RateLimitBudget",
    "RateLimitState",
    "RetryConfig",
    "SailthruClient",
    "safe_filename",
]

log = logging.getLogger("sailjobs.client")

DEFAULT_BASE_URL = "https://api.sailthru.com"
ENV_API_KEY = "SAILTHRU_API_KEY"
ENV_API_SECRET = "SAILTHRU_API_SECRET"
ENV_API_URL = "SAILTHRU_API_URL"
# An upload's read timeout grows by one second per MiB: the API may take that long to
# take in a big file before it answers.
UPLOAD_SECONDS_PER_BYTE = 1.0 / (1024 * 1024)
# The whole exchange (connect, send, wait, read the answer) of one API call, whatever the
# server does; an upload gets twice its read-timeout allowance on top (to send, then wait).
DEFAULT_TOTAL_TIMEOUT = 120.0
ANSWER_CHUNK = 64 * 1024


class _Adapter(DeadlineAdapter):
    """Big socket writes, so a streamed upload is not slowed by 16 KiB chunks."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: object
    ) -> None:
        pool_kwargs.setdefault("blocksize", UPLOAD_CHUNK)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


class ClientOptions(TypedDict, total=False):
    """The keyword options of ``SailthruClient`` (for ``from_env``)."""

    connect_timeout: float
    read_timeout: float
    total_timeout: float
    retry: RetryConfig | None
    budget: Budget | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    pool_size: int


def _not_an_api_url(url: str) -> str | None:
    """Why ``url`` cannot be the API's address (found before any request), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) address"
    try:
        parts.port  # noqa: B018 -- urllib checks the port only when it is read
    except ValueError as exc:
        return f"has a bad port ({exc})"
    return None


class SailthruClient:
    """A client of Sailthru's REST API (or of the sandbox that speaks it). Thread-safe."""

    def __init__(
        self,
        api_key: str,
        secret: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
        retry: RetryConfig | None = None,
        budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        pool_size: int = 16,
    ) -> None:
        if not api_key or not secret:
            raise MissingCredentialsError("SailthruClient needs an API key and a secret")
        if not base_url.startswith(("http://", "https://")):
            raise ClientError(f"Sailthru base URL must start with http:// or https://: {base_url}")
        register_secret(secret)
        register_secret(api_key)  # it signs nothing, but names the account: masked too
        self.api_key = api_key
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.retry = retry or RetryConfig()
        self.budget: Budget = budget if budget is not None else default_budget()
        self._sleep = sleep
        self._clock = clock
        self._session = requests.Session()
        adapter = _Adapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = f"sailjobs (python-requests {requests.__version__})"
        self._downloader = ExportDownloader(
            self._session,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            total_timeout=total_timeout,
            retry=self.retry,
            sleep=sleep,
            logger=log,
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        key_env: str = ENV_API_KEY,
        secret_env: str = ENV_API_SECRET,
        base_url: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> SailthruClient:
        """A client configured by ``SAILTHRU_API_KEY``, ``SAILTHRU_API_SECRET`` and
        ``SAILTHRU_API_URL`` (default https://api.sailthru.com); a manifest's target names
        its own key and secret variables (``key_env``, ``secret_env``) and ``base_url``."""
        env = os.environ if env is None else env
        missing = [name for name in (key_env, secret_env) if not env.get(name)]
        if missing:
            raise MissingCredentialsError(
                f"Sailthru credentials missing: set {' and '.join(missing)} in the environment "
                f"({ENV_API_URL} may point at another endpoint, e.g. `sailjobs sandbox serve`)"
            )
        named = f"the target's api_url {base_url!r}" if base_url else None
        base_url = base_url or env.get(ENV_API_URL) or DEFAULT_BASE_URL
        if (why := _not_an_api_url(base_url)) is not None:
            raise MissingCredentialsError(
                f"{named or f'{ENV_API_URL}={base_url!r}'} {why}; set it to the API's address, "
                f"e.g. {DEFAULT_BASE_URL} or http://127.0.0.1:8642 for `sailjobs sandbox serve`"
            )
        return cls(env[key_env], env[secret_env], base_url, **options)

    # -- public calls ---------------------------------------------------------------------

    def submit_job(
        self,
        payload: Mapping[str, JSONValue],
        *,
        file: Path | str | None = None,
        resubmit_safe: bool = False,
    ) -> JobInfo:
        """POST /job: the job's id and first status. ``file`` is sent as the part ``file``."""
        if not isinstance(payload, Mapping) or not payload.get("job"):
            raise ApiError(
                "the payload has no 'job' key; say which job type to run",
                request="POST /job",
                hint="",
            )
        payload = dict(payload)
        upload = Path(file) if file is not None else None
        if upload is not None:
            # The file travels as its own part; its local path means nothing to the API.
            payload.pop("file", None)
            if not upload.is_file():
                raise ApiError(
                    f"cannot upload {upload}: no such file",
                    request="POST /job",
                    hint="check the job's file path",
                )
        fields = self._call("POST", "job", payload, file=upload, resubmit_safe=resubmit_safe)
        if not fields.get("job_id"):
            raise ApiError("the API accepted the job but sent no job_id", request="POST /job")
        return JobInfo.from_fields(fields)

    def get_job(self, job_id: str) -> JobInfo:
        """GET /job: the job's status and every field the API returns."""
        fields = self._call("GET", "job", {"job_id": job_id})
        if fields.get("job_id") in (None, ""):
            # The seed's own GET example says "job_id": null: the id asked about is the job's.
            fields["job_id"] = job_id
        if fields.get("status") in (None, ""):
            raise ApiError(
                f"the API's answer about job {job_id} has no status",
                http_status=200,
                transient=True,
                request="GET /job",
                hint="the job's status is asked again at the next poll",
            )
        return JobInfo.from_fields(fields)

    def download_export(
        self,
        url: str,
        dest: Path | str,
        *,
        created: str | None = None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        keep_partial: bool = True,
    ) -> DownloadResult:
        """Save an export to ``dest``: a file, or a directory (one that exists, or a string
        ending with ``/``) that keeps the server's file name, which must be a plain name.

        Atomic (temporary file beside it, fsync, rename), mode 0600, resumed with a Range
        request after a cut; an expired link raises ``ExportExpiredError`` naming ``created``.
        Only http(s) links; a file over ``max_bytes`` is refused. A partial file is kept for
        the next call to resume only after transient failures and only if ``keep_partial``.
        """
        return self._downloader.download(
            url, dest, created=created, max_bytes=max_bytes, keep_partial=keep_partial
        )

    def download_job_export(self, job: JobInfo, dest: Path | str) -> DownloadResult:
        """Download a finished export job's file; an expired job raises ExportExpiredError."""
        created = job.end_time or job.start_time
        if job.expired:
            when = f" (created {created})" if created else ""
            raise ExportExpiredError(
                f"the export of job {job.job_id} has expired{when}",
                hint="export links last about 2 hours; run the export job again",
            )
        if not job.export_url:
            raise ApiError(
                f"job {job.job_id} has no export file (status {job.status})",
                hint="only a completed export job has one",
            )
        return self.download_export(job.export_url, dest, created=created)

    def with_retry(self, retry: RetryConfig) -> SailthruClient:
        """This client with another retry policy (a job's ``retry``) for its calls and
        downloads. It shares the session, the rate-limit budget, the sleep and the clock:
        closing the original closes it too."""
        if retry == self.retry:
            return self
        view = copy.copy(self)
        view.retry = retry
        view._downloader = self._downloader.with_retry(retry)
        return view

    def budget_for(self, endpoint: str, method: str) -> RateLimitState:
        """What the API last said about ``endpoint``/``method``'s rate limit."""
        return self.budget.state(endpoint, method)

    def call(self, method: str, endpoint: str, payload: Mapping[str, JSONValue] | None) -> JSONDict:
        """Another API call (GET/DELETE are retried when transient; POST is not)."""
        return self._call(method.upper(), endpoint.strip("/"), payload)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SailthruClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return mask(f"<SailthruClient base_url={self.base_url!r} api_key={self.api_key!r}>")

    # -- the request machinery ------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        payload: Mapping[str, JSONValue] | None,
        *,
        file: Path | None = None,
        resubmit_safe: bool = False,
    ) -> JSONDict:
        request = f"{method} /{endpoint}"
        retrying = self.retry.retrying(
            retry_on=lambda exc: isinstance(exc, AttemptFailed) and exc.retry,
            wait=self._wait,
            sleep=self._pause,
            before_sleep=lambda state: self._log_retry(request, state),
        )
        try:
            return cast(
                JSONDict,
                retrying(self._attempt, method, endpoint, payload, file, resubmit_safe),
            )
        except AttemptFailed as failed:
            if failed.retry:
                log.warning(
                    mask(f"{request} failed after {self.retry.attempts} attempts: {failed.reason}")
                )
            raise failed.error from public_cause(failed.__cause__)

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, AttemptFailed) and failure.rate_limited:
            return 0.0  # the budget makes the next attempt wait for the window's reset
        return float(self.retry.backoff()(state))

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def _log_retry(self, request: str, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        reason = failure.reason if isinstance(failure, AttemptFailed) else repr(failure)
        if isinstance(failure, AttemptFailed) and failure.rate_limited:
            when = "retrying when the rate-limit window resets"
        else:
            delay = state.next_action.sleep if state.next_action else 0.0
            when = f"retrying in {delay:.1f} s"
        log.warning(
            mask(
                f"{request} attempt {state.attempt_number}/{self.retry.attempts} failed: "
                f"{reason}; {when}"
            )
        )

    def _timeout(self, file: Path | None) -> tuple[float, float]:
        read = self.read_timeout
        if file is not None:
            read += file.stat().st_size * UPLOAD_SECONDS_PER_BYTE
        return self.connect_timeout, read

    def _total(self, file: Path | None) -> float:
        if file is None:
            return self.total_timeout
        return self.total_timeout + 2 * file.stat().st_size * UPLOAD_SECONDS_PER_BYTE

    def _attempt(
        self,
        method: str,
        endpoint: str,
        payload: Mapping[str, JSONValue] | None,
        file: Path | None,
        resubmit_safe: bool,
    ) -> JSONDict:
        request = f"{method} /{endpoint}"
        self.budget.acquire(
            endpoint,
            method,
            clock=self._clock,
            sleep=self._sleep,
            on_wait=lambda delay: log.info(
                mask(f"{request}: rate limit reached, waiting {delay:.1f} s for the reset")
            ),
        )
        try:
            response, content = self._send(request, method, endpoint, payload, file, resubmit_safe)
        except BaseException:
            # No answer to keep the budget in step with: a new window's probe ends its lease.
            self.budget.no_answer(endpoint, method)
            raise
        return self._parse(request, endpoint, method, response, content, resubmit_safe)

    def _send(
        self,
        request: str,
        method: str,
        endpoint: str,
        payload: Mapping[str, JSONValue] | None,
        file: Path | None,
        resubmit_safe: bool,
    ) -> tuple[requests.Response, bytes]:
        """One request and its answer's body (every failure before an answer raises)."""
        params = signed_params(self.api_key, self._secret, payload)
        url = f"{self.base_url}/{endpoint}"
        body: RequestBody | None = None
        if method == "POST":
            try:
                body = form_body(params) if file is None else multipart_body(params, file)
            except OSError as exc:
                error = ApiError(
                    f"cannot read the upload file {file}: {exc.strerror}", request=request
                )
                raise AttemptFailed(error, retry=False, reason=error.message) from exc
        with exchange(self._total(file)) as current:
            try:
                if body is not None:
                    response = self._session.post(
                        url,
                        data=body.body,
                        headers={"Content-Type": body.content_type},
                        timeout=self._timeout(file),
                        allow_redirects=False,
                        stream=True,
                    )
                else:
                    response = self._session.request(
                        method,
                        url,
                        params=params,
                        timeout=self._timeout(None),
                        allow_redirects=False,
                        stream=True,
                    )
                with response:
                    content = self._read_answer(request, method, response, body, resubmit_safe)
                if current.expired:
                    # An answer without a length simply ends when its socket is shut.
                    raise requests.ConnectionError("the answer was cut at the deadline")
            except requests.RequestException as exc:
                raise self._connection_failure(request, exc, body, resubmit_safe, current) from exc
            finally:
                if body is not None:
                    body.close()
        return response, content

    def _read_answer(
        self,
        request: str,
        method: str,
        response: requests.Response,
        body: RequestBody | None,
        resubmit_safe: bool,
    ) -> bytes:
        """The answer's body, read up to ``MAX_API_ANSWER_BYTES``: an endless answer fails
        in milliseconds instead of filling the memory."""
        content = bytearray()
        for chunk in response.iter_content(ANSWER_CHUNK):
            content += chunk
            if len(content) > MAX_API_ANSWER_BYTES:
                error = ApiError(
                    f"the API's answer is larger than {MAX_API_ANSWER_BYTES // 1024**2} MiB "
                    "(an API answer is a small JSON object); it was not read further",
                    http_status=response.status_code,
                    request=request,
                    hint=f"check that {ENV_API_URL} points at the Sailthru API",
                )
                if method == "POST" and body is not None and body.body.finished:
                    # The server had the whole request: it may have created the job.
                    raise self._ambiguous(request, error, "an oversized answer", resubmit_safe)
                raise AttemptFailed(error, retry=False, reason=f"{error.message} (permanent)")
        return bytes(content)

    def _connection_failure(
        self,
        request: str,
        exc: requests.RequestException,
        body: RequestBody | None,
        resubmit_safe: bool,
        current: Exchange,
    ) -> AttemptFailed:
        reason = describe_exception(exc)
        if current.expired:
            reason = f"no complete answer within {current.seconds:g} s (the limit for one call)"
        elif not isinstance(exc, TRANSPORT_ERRORS):
            # An invalid URL or header: trying again cannot help.
            return AttemptFailed(ApiError(reason, request=request), retry=False, reason=reason)
        error = ApiError(
            reason, request=request, transient=True, hint="check the network; try again later"
        )
        if body is None or not body.body.finished:
            # GET, or a POST whose body never fully left: no job can have been created.
            return AttemptFailed(error, retry=True, reason=reason)
        return self._ambiguous(request, error, reason, resubmit_safe)

    def _ambiguous(
        self, request: str, error: ApiError, reason: str, resubmit_safe: bool
    ) -> AttemptFailed:
        if resubmit_safe:
            return AttemptFailed(error, retry=True, reason=f"{reason} (resubmitting is safe)")
        ambiguous = AmbiguousSubmitError(
            f"{error.message} after the request was sent: the job may or may not have been "
            "created, so it was not submitted again",
            code=error.code,
            http_status=error.http_status,
            transient=False,
            request=request,
            hint="look for the job in Sailthru before running it again",
        )
        log.warning(ambiguous.message)
        return AttemptFailed(ambiguous, retry=False, reason=reason)

    def _parse(
        self,
        request: str,
        endpoint: str,
        method: str,
        response: requests.Response,
        content: bytes,
        resubmit_safe: bool,
    ) -> JSONDict:
        status = response.status_code
        now = self._clock()
        self.budget.update(endpoint, method, response.headers, now)
        try:
            body: JSONValue = json.loads(content) if content.strip() else None
        except ValueError:
            body = None
        if 300 <= status < 400:
            # Followed, a redirected POST would arrive as a GET without its signed form.
            where = redact_url(urljoin(f"{self.base_url}/", response.headers.get("Location", "")))
            error = ApiError(
                f"the API redirected to {where}",
                http_status=status,
                request=request,
                hint=f"point {ENV_API_URL} (the client's base URL) at the API's address itself",
            )
            raise AttemptFailed(error, retry=False, reason=f"HTTP {status} (permanent)")
        api_error = error_from_body(body)
        if status == 429 or (api_error is not None and api_error[0] == 43):
            self.budget.exhausted(endpoint, method, response.headers, now)
            code, message = api_error or (43, "Too many requests")
            error = ApiError(
                message, code=code, http_status=status, transient=True, request=request
            )
            reason = f"rate limited (HTTP {status}, error {code})"
            # A 429 is refused before anything is done: retrying never duplicates a job.
            raise AttemptFailed(error, retry=True, reason=reason, rate_limited=True)
        if api_error is not None:
            code, message = api_error
            error = ApiError(
                message,
                code=code,
                http_status=status,
                transient=is_transient(code, status),
                request=request,
            )
            raise self._http_failure(request, method, error, resubmit_safe)
        if status >= 400 or not isinstance(body, dict):
            what = "an error" if status >= 400 else "a response that is not a JSON object"
            error = ApiError(
                f"the API answered with {what} ({_describe_body(response, content, body)})",
                http_status=status,
                transient=status >= 500 or status < 400,
                request=request,
            )
            raise self._http_failure(request, method, error, resubmit_safe)
        return body

    def _http_failure(
        self, request: str, method: str, error: ApiError, resubmit_safe: bool
    ) -> AttemptFailed:
        reason = f"HTTP {error.http_status}" + (
            f", error {error.code}: {error.message}" if error.code is not None else ""
        )
        if not error.transient:
            return AttemptFailed(error, retry=False, reason=f"{reason} (permanent)")
        if method == "POST":
            # The server had the whole request: it may have created the job before failing.
            return self._ambiguous(request, error, reason, resubmit_safe)
        return AttemptFailed(error, retry=True, reason=reason)


def _describe_body(response: requests.Response, raw: bytes, body: JSONValue) -> str:
    """What an unexpected answer held, in a few words (never its text: it may echo secrets)."""
    content = raw.strip()
    if not content:
        return "an empty body"
    if body is None:
        if content == b"null":
            return "JSON null"
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no type"
        return f"{len(raw)} bytes that are not JSON, {kind}"
    if isinstance(body, dict):
        return "a JSON object that is no error body"
    kinds = {list: "a JSON list", str: "a JSON string", bool: "a JSON boolean"}
    return kinds.get(type(body), "a JSON number")
