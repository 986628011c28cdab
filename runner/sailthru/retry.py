"""How the client retries: one failed attempt and failure descriptions; the backoff settings
are the shared ``runner.retries.RetryConfig`` (re-exported here).

A failed attempt carries the error to raise if it is the last one and whether another
attempt is allowed; the client's classification (``runner.sailthru.client``) decides that.
Descriptions of transport failures never include the URL: its query string holds the
signature.
"""

from __future__ import annotations

import http.client

import requests
import urllib3
from urllib3.exceptions import MaxRetryError

from runner.retries import RetryConfig
from runner.sailthru.errors import ApiError

__all__ = [
    "TRANSPORT_ERRORS",
    "AttemptFailed",
    "RetryConfig",
    "describe_exception",
    "public_cause",
    "root_cause",
]


# Failures of the connection or of the answer in transit: trying again later can succeed.
# (ChunkedEncodingError is an answer cut short mid-body; it is not a ConnectionError.)
TRANSPORT_ERRORS: tuple[type[requests.RequestException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class AttemptFailed(Exception):
    """One failed attempt: the error to raise if it is the last, and whether to try again."""

    def __init__(self, error: ApiError, *, retry: bool, reason: str, rate_limited: bool = False):
        super().__init__(reason)
        self.error = error
        self.retry = retry
        self.reason = reason
        self.rate_limited = rate_limited


def describe_exception(exc: requests.RequestException) -> str:
    """A short, secret-free description of a transport failure (no URL, no query string)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "timed out connecting to the API"
    if isinstance(exc, requests.ReadTimeout):
        return "timed out waiting for the API's answer"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke while reading the API's answer"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "the API's answer arrived corrupted"
    if isinstance(exc, requests.ConnectionError):
        root = root_cause(exc)
        if isinstance(root, ConnectionRefusedError):
            return "connection refused by the API"
        if isinstance(root, ConnectionResetError | BrokenPipeError):
            return "the API reset the connection"
        if isinstance(root, http.client.RemoteDisconnected):
            return "the API closed the connection without answering"
        return f"connection to the API failed ({type(root).__name__})"
    return f"request failed ({type(exc).__name__})"


def public_cause(exc: BaseException | None) -> BaseException | None:
    """``exc`` unless its text may hold a URL (requests' and urllib3's errors print the
    request URL, whose query string carries ``sig`` and whose path may be an export link):
    the error raised to the caller is chained to it only when that is safe to show."""
    if isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError):
        return None
    return exc


def root_cause(exc: BaseException) -> BaseException:
    """The innermost error under requests' and urllib3's wrappers (their text holds URLs)."""
    current: BaseException = exc
    for _ in range(10):
        inner: BaseException | None = None
        if isinstance(current, MaxRetryError):
            inner = current.reason
        else:
            inner = next((a for a in reversed(current.args) if isinstance(a, BaseException)), None)
        inner = inner or current.__cause__ or current.__context__
        if inner is None:
            break
        current = inner
    return current
