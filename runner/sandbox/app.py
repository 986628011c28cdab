"""The sandbox's WSGI application: routing, authentication, rate limits, faults, errors.

Every API answer is JSON with the X-Rate-Limit-* headers; every error body is exactly
``{"error": N, "errormsg": "..."}``. No request can produce a traceback page: a bug answers
the API's internal error (and is logged).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from runner.masking import MASK
from runner.sailthru.signature import verify
from runner.sandbox import errors
from runner.sandbox.errors import ApiError, api_error
from runner.sandbox.exportfiles import DroppedConnection, drop_connection, serve_export
from runner.sandbox.faults import (
    DROP_AFTER_BODY,
    DROP_BEFORE_BODY,
    DROP_MID_RESPONSE,
    FAIL,
    THROTTLE,
    Faults,
)
from runner.sandbox.jobs import JobManager
from runner.sandbox.ratelimit import RateLimiter
from runner.sandbox.store import StoreClosed
from runner.sandbox.wire import ApiRequest, decode_payload, read_request

log = logging.getLogger("runner.sandbox")

API_METHODS = ("GET", "POST", "DELETE")
ENDPOINTS = {"job": ("GET", "POST"), "settings": ("GET",)}
StartResponse = Callable[..., Any]


class SandboxApp:
    """WSGI callable. ``config`` is the Sandbox (api_key, secret, url, paths, limits)."""

    def __init__(
        self,
        config: Any,
        jobs: JobManager,
        limiter: RateLimiter,
        faults: Faults,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.limiter = limiter
        self.faults = faults
        self._log: list[tuple[str, str, int]] = []
        self._log_lock = threading.Lock()

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        with self._log_lock:
            return list(self._log)

    def _record(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._log.append((method, path, status))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "") or "/"
        if path.startswith("/export/"):
            response = serve_export(environ, self.jobs, self.faults)
            self._record(method, f"/export/{MASK}", response.status_code)
            return response(environ, start_response)
        status, headers, body = self._api(environ, method, path)
        self._record(method, path, status)
        data = json.dumps(body).encode("utf-8")
        headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
            *headers,
        ]
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}", headers)
        if status == 200 and self.faults.take(DROP_MID_RESPONSE, method, path):
            return _half_then_drop(data, environ)
        return [data]

    def _api(
        self, environ: dict[str, Any], method: str, path: str
    ) -> tuple[int, list[tuple[str, str]], Any]:
        endpoint = path.strip("/")
        rate = self.limiter.current(endpoint, method)
        request: ApiRequest | None = None
        try:
            if self.faults.take(DROP_BEFORE_BODY, method, path):
                self._drop(environ, method, path)
            if self.faults.latency > 0:
                time.sleep(self.faults.latency)
            if method not in API_METHODS:
                raise api_error(errors.UNSUPPORTED_METHOD)
            if endpoint not in ENDPOINTS:
                raise api_error(errors.UNKNOWN_ENDPOINT, endpoint=endpoint)
            fault = self.faults.take(FAIL, method, path)
            if fault is not None:
                raise ApiError(fault.status, 9, errors.INTERNAL_ERROR.message)
            if self.faults.take(THROTTLE, method, path):
                rate = self.limiter.throttled(endpoint, method)
                raise api_error(errors.RATE_LIMITED, method=method, endpoint=endpoint)
            request = read_request(
                environ, endpoint, self.config.upload_dir, self.config.max_upload
            )
            self._authenticate(request)
            rate = self.limiter.hit(endpoint, method)
            if not rate.allowed:
                raise api_error(errors.RATE_LIMITED, method=method, endpoint=endpoint)
            if method not in ENDPOINTS[endpoint]:
                raise api_error(errors.UNSUPPORTED_METHOD)
            request.payload = decode_payload(request)
            body = self._route(request, request_base_url(environ, self.config.url))
            if self.faults.take(DROP_AFTER_BODY, method, path):
                self._drop(environ, method, path)
            status = 200
        except ApiError as error:
            status, body = error.http_status, error.body()
        except DroppedConnection:
            raise
        except StoreClosed:  # a request still in flight when the sandbox stopped: not a bug
            status, body = 503, ApiError(503, 9, errors.INTERNAL_ERROR.message).body()
        except Exception:
            log.exception("sandbox bug on %s %s", method, path)
            status, body = 500, api_error(errors.INTERNAL_ERROR).body()
        finally:
            # A file part belongs to the job that accepted it; otherwise it goes now.
            if request is not None and request.upload is not None and not request.upload_taken:
                request.upload.discard()
        return status, rate.headers(), body

    def _drop(self, environ: dict[str, Any], method: str, path: str) -> None:
        """Close the connection with no answer (logged first, as status 0)."""
        self._record(method, path, 0)
        drop_connection(environ)

    def _authenticate(self, request: ApiRequest) -> None:
        api_key = request.params.get("api_key", "")
        if api_key != self.config.api_key:
            raise api_error(errors.INVALID_API_KEY)
        sig = request.params.get("sig", "")
        if not verify(self.config.secret, request.signed_params(), sig):
            raise api_error(errors.BAD_SIGNATURE)

    def _route(self, request: ApiRequest, base_url: str) -> Any:
        if request.endpoint == "settings":
            return self.config.settings()
        if request.method == "POST":
            answer = self.jobs.submit(request.payload, request.upload)
            request.upload_taken = True
            return answer
        return self.jobs.get(request.payload, base_url)


def request_base_url(environ: dict[str, Any], default: str) -> str:
    """The sandbox's URL as the client reached it (its Host header), else ``default``.

    A sandbox bound to 0.0.0.0 in a container is reached as ``http://sandbox:8642``: its
    export links must use that name, not the address it listens on.
    """
    host = environ.get("HTTP_HOST", "")
    if not _HOST.match(host):
        return default
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")


def _half_then_drop(data: bytes, environ: dict[str, Any]) -> Iterator[bytes]:
    """Headers and half the body go out; then the connection closes (a fault)."""
    yield data[: len(data) // 2]
    drop_connection(environ)
