"""The errors the Sailthru client raises, and how an API error body becomes one.

Every failure is classified once, here: *transient* (connection failures, 5xx, 429 or error
43) may succeed if tried again later; *permanent* (other 4xx, error codes such as 2, 5, 18,
99) will fail the same way until someone changes the request, the credentials or the account.
Messages say what the API said and what to do; they pass through ``runner.masking`` so a
secret, a ``sig`` or an export URL never shows.
"""

from __future__ import annotations

from runner.jsontypes import JSONDict, JSONValue
from runner.masking import mask

# What the user can do about an API error code (reference/sailthru-api.md §2).
_HINTS: dict[int, str] = {
    1: "the endpoint does not support this HTTP method; this is a bug in the caller",
    2: "add the missing parameter to the job",
    3: "check SAILTHRU_API_KEY: the API does not know this key",
    4: "this machine's IP address is not allowed: add it to the account's API IP allow-list",
    5: "check SAILTHRU_API_SECRET: the request signature does not match the account's secret",
    6: "the request holds text that is not valid UTF-8; fix the job's parameters",
    9: "Sailthru had an internal error; try again later",
    11: "fix the email address in the job's parameters",
    14: "check the template name",
    15: "check the list name: the account has no such list",
    18: "write the dates as yyyymmdd (e.g. 20160131), the start not after the end, "
    "at most 31 days apart",
    43: "the API's per-minute rate limit was hit; wait a minute or lower the run's concurrency",
    99: "fix the job's parameters as the message says",
}
_RATE_LIMIT_CODE = 43


def is_transient(code: int | None, http_status: int | None) -> bool:
    """Whether trying again later can succeed: 5xx, 429 or error 43."""
    if code == _RATE_LIMIT_CODE or http_status == 429:
        return True
    return http_status is not None and http_status >= 500


def hint_for(code: int | None, http_status: int | None) -> str:
    """What to do about an error, one clause."""
    if code is not None and code in _HINTS:
        return _HINTS[code]
    if http_status == 429:
        return _HINTS[_RATE_LIMIT_CODE]
    if http_status is not None and http_status >= 500:
        return "the API answered with a server error; try again later"
    if http_status in (401, 403):
        return "check SAILTHRU_API_KEY and SAILTHRU_API_SECRET"
    return "check the request's parameters"


class ClientError(Exception):
    """Base of every error raised by the Sailthru client; ``str()`` is masked."""

    def __str__(self) -> str:
        return mask(super().__str__())


class MissingCredentialsError(ClientError):
    """The environment lacks the credentials, or its ``SAILTHRU_API_URL`` is no usable
    address (``SailthruClient.from_env``): a setup problem the user can fix."""


class ApiError(ClientError):
    """A call to the API failed.

    ``code`` and ``message`` are the API's ``error``/``errormsg`` when it sent an error body
    (else ``None`` and a description of the failure); ``http_status`` is ``None`` when no
    response arrived. ``transient`` says whether trying again later can succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        transient: bool = False,
        request: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = mask(message)
        self.code = code
        self.http_status = http_status
        self.transient = transient
        self.request = request  # e.g. "POST /job", never a URL with a query string
        self.hint = hint if hint is not None else hint_for(code, http_status)
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" on {self.request}" if self.request else ""
        what = []
        if self.code is not None:
            what.append(f"error {self.code}")
        if self.http_status is not None:
            what.append(f"HTTP {self.http_status}")
        label = f"Sailthru API {', '.join(what)}" if what else "Sailthru API call failed"
        text = f"{label}{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return mask(text)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep keyword attributes across pickling (e.g. errors handed between processes).
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[ApiError], state: JSONDict) -> ApiError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class AmbiguousSubmitError(ApiError):
    """POST /job failed after its body was sent: a job may or may not have been created.

    Not retried unless the job type says a second submission is harmless; the caller must
    decide (look the job up, or accept the risk of a duplicate).
    """


class ExportExpiredError(ApiError):
    """An export link has expired (``expired: true``, or 403/404/410 when downloading)."""


def error_from_body(body: JSONValue) -> tuple[int | None, str] | None:
    """``(code, message)`` when ``body`` is an API error body ``{"error": N, "errormsg": "…"}``.

    A job's GET answer may hold ``"error": false``: that is a field, not an error. A code that
    is not a number (``"error": "oops"``) still makes an error body, with no code (None).
    Some consumers' fixtures (tap-sailthru's) say ``message`` instead of ``errormsg``; that is
    taken too when the body is no job description (it has no ``status``).
    """
    if not isinstance(body, dict) or "error" not in body:
        return None
    code = body["error"]
    if code is None or isinstance(code, bool):
        return None
    if "errormsg" in body:
        text = body["errormsg"]
    elif "message" in body and "status" not in body:
        text = body["message"]
    else:
        return None
    message = "" if text is None else str(text)
    try:
        if not isinstance(code, int | float | str):
            raise TypeError(code)
        number = int(code)
    except (TypeError, ValueError, OverflowError):
        detail = f"(its error code {code!r} is not a number)"
        return None, f"{message} {detail}" if message else f"an error body {detail}"
    return number, message or "(the API gave no message)"
