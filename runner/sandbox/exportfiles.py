"""Export files at storage-like URLs: ``/export/YYYY/MM/DD/<32 hex>``, Range, expiry."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

from werkzeug.utils import send_file
from werkzeug.wrappers import Response

from runner.sandbox.faults import CUT_DOWNLOAD, Faults
from runner.sandbox.jobs import JobManager
from runner.sandbox.wire import remove_quietly

EXPORT_PATH = re.compile(r"^/export/\d{4}/\d{2}/\d{2}/(?P<token>[0-9a-f]{32})$")
HEADER_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # an HTTP header is latin-1 at best


class DroppedConnection(ConnectionError):
    """Raised after the socket was closed on purpose (a fault); the server ignores it."""


def drop_connection(environ: dict[str, Any]) -> None:
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    raise DroppedConnection("connection dropped on purpose")


def not_found() -> Response:
    body = "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>NoSuchKey</Code>"
    body += "<Message>The specified key does not exist.</Message></Error>\n"
    return Response(body, status=404, content_type="application/xml")


def serve_export(environ: dict[str, Any], jobs: JobManager, faults: Faults) -> Response:
    """The export file, with Range support; 404 once expired (or for any other path)."""
    match = EXPORT_PATH.match(environ.get("PATH_INFO", ""))
    record = jobs.export_by_token(match["token"]) if match else None
    if (
        record is None
        or record.export_path is None
        or environ["REQUEST_METHOD"] not in ("GET", "HEAD")
    ):
        return not_found()
    if jobs.is_expired(record) or not Path(record.export_path).exists():
        remove_quietly(record.export_path)  # an expired link's file goes now
        return not_found()
    filename = str(record.result.get("filename", ""))
    if not HEADER_SAFE_FILENAME.match(filename):  # written by an older sandbox: not header-safe
        filename = "export.csv"
    try:
        response = send_file(
            record.export_path, environ, mimetype="text/csv", conditional=True, max_age=None
        )
    except OSError:  # deleted or unreadable since the check above (it expired meanwhile)
        return not_found()
    del response.headers["Date"]  # the server adds its own
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    body = cast(Iterable[bytes], response.response)  # a file wrapper: bytes
    chunks: Iterator[bytes] = iter(body)
    if faults.take(CUT_DOWNLOAD) is not None and response.content_length:
        response.direct_passthrough = False
        chunks = _cut_short(body, response.content_length // 2, environ)
    response.response = ClosedWhenDone(chunks, body)
    return response


class ClosedWhenDone:
    """A response body that closes its file however the response ends.

    werkzeug skips the body's ``close()`` when the socket fails after the last byte (a
    client killed as its download ends); this body also closes when it is collected.
    """

    def __init__(self, chunks: Iterator[bytes], body: Iterable[bytes]) -> None:
        self._chunks = chunks
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        _close(self._chunks)
        _close(self._body)

    __del__ = close


def _cut_short(body: Iterable[bytes], limit: int, environ: dict[str, Any]) -> Iterator[bytes]:
    """The first ``limit`` bytes, then the connection closes: Content-Length is never met."""
    sent = 0
    try:
        for chunk in body:
            if sent + len(chunk) >= limit:
                yield chunk[: limit - sent]
                break
            sent += len(chunk)
            yield chunk
    finally:
        _close(body)
    drop_connection(environ)


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()
