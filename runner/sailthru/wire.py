"""Sailthru's wire format: the four signed parameters and the request bodies that carry them.

Every call sends ``api_key``, ``format=json``, ``json`` (the payload serialized ONCE) and
``sig`` (signed over exactly that string). GET and DELETE put them in the query string; POST
sends them as a form, or, with a file, as multipart parts followed by the part ``file``,
which is not signed. The multipart body streams from disk (requests-toolbelt's
``MultipartEncoder``), so memory does not grow with the file.

Bodies are wrapped in ``SendTracker``, which notes whether the whole body was handed to the
socket: a POST that failed before that cannot have created a job and is safe to retry.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO
from urllib.parse import urlencode

from requests_toolbelt.multipart.encoder import MultipartEncoder

from runner.jsontypes import JSONValue
from runner.sailthru.signature import sign


def _json_default(value: object) -> str | list[object]:
    # YAML gives dates and paths; the API wants text. Anything else is a caller's bug.
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} in a Sailthru payload")


def serialize_payload(payload: Mapping[str, JSONValue] | None) -> str:
    """The ``json`` parameter: the payload as one compact JSON string (``null`` for None)."""
    return json.dumps(payload, separators=(",", ":"), default=_json_default)


def signed_params(
    api_key: str, secret: str, payload: Mapping[str, JSONValue] | None
) -> dict[str, str]:
    """``api_key``, ``format``, ``json`` and ``sig``, the signature over the first three."""
    params = {"api_key": api_key, "format": "json", "json": serialize_payload(payload)}
    params["sig"] = sign(secret, params)
    return params


class SendTracker:
    """A request body that knows whether it was sent to the end.

    The HTTP layer reads the body chunk by chunk and writes each chunk to the socket before
    reading the next, so the read that returns ``b""`` proves every byte was handed over.
    (Deliberately no ``tell``/``fileno``: requests would then mis-measure the length.)
    """

    def __init__(self, source: IO[bytes] | MultipartEncoder, length: int) -> None:
        self._source = source
        self.len = length  # requests sets Content-Length from this
        self.sent = 0
        self.finished = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size if size is not None and size > 0 else -1)
        if not chunk:
            self.finished = True
            return b""
        self.sent += len(chunk)
        return chunk

    def __len__(self) -> int:
        return self.len


@dataclass
class RequestBody:
    """What to send for a POST: the body, its Content-Type, and the file to close afterwards."""

    body: SendTracker
    content_type: str
    file: IO[bytes] | None = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def form_body(params: Mapping[str, str]) -> RequestBody:
    """An ``application/x-www-form-urlencoded`` body (UTF-8, like the official clients)."""
    data = urlencode(params).encode("ascii")
    return RequestBody(
        SendTracker(io.BytesIO(data), len(data)), "application/x-www-form-urlencoded"
    )


# Big reads keep the per-chunk overhead of the encoder and the socket small.
UPLOAD_CHUNK = 1024 * 1024


def multipart_body(params: Mapping[str, str], file: Path) -> RequestBody:
    """A streaming ``multipart/form-data`` body: the text parts, then the part ``file``."""
    handle = open(file, "rb")  # noqa: SIM115 - closed by RequestBody.close after the send
    try:
        fields: list[tuple[str, object]] = list(params.items())
        fields.append(("file", (file.name, handle, "application/octet-stream")))
        encoder = MultipartEncoder(fields=fields)
        return RequestBody(SendTracker(encoder, encoder.len), encoder.content_type, handle)
    except BaseException:
        handle.close()
        raise
