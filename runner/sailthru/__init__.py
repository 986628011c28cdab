"""The Sailthru API client: wire encoding, signature, errors, retry policy, the rate-limit
budget, export downloads and ``JobInfo``. Imports only the leaf helpers of ``runner``.

Face: ``SailthruClient``, ``JobInfo``, ``RetryConfig`` and the error classes.
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

if TYPE_CHECKING:
    from runner.sailthru.client import SailthruClient
    from runner.sailthru.errors import (
        AmbiguousSubmitError,
        ApiError,
        ClientError,
        ExportExpiredError,
        MissingCredentialsError,
    )
    from runner.sailthru.jobinfo import JobInfo
    from runner.sailthru.retry import RetryConfig

_ERRORS = "runner.sailthru.errors"
__all__ = [
    "AmbiguousSubmitError",
    "ApiError",
    "ClientError",
    "ExportExpiredError",
    "JobInfo",
    "MissingCredentialsError",
    "RetryConfig",
    "SailthruClient",
]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SailthruClient": "runner.sailthru.client",
        "JobInfo": "runner.sailthru.jobinfo",
        "RetryConfig": "runner.sailthru.retry",
        "ApiError": _ERRORS,
        "AmbiguousSubmitError": _ERRORS,
        "ClientError": _ERRORS,
        "ExportExpiredError": _ERRORS,
        "MissingCredentialsError": _ERRORS,
    },
)
