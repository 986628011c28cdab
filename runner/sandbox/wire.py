"""Sailthru's wire format on the server side: the four text parameters and an optional file.

GET/DELETE carry ``api_key``, ``format``, ``json``, ``sig`` in the query string; POST as a
form or as multipart with the file in a part named ``file``. Values are kept exactly as
received (the signature is verified over them); the file part is streamed to disk with a
size cap and is not signed. Lenient like the real API: a file part without Content-Type,
``text/plain`` or ``application/octet-stream``; a body whose closing boundary is missing.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from runner.sailthru import contract
from runner.sandbox import errors
from runner.sandbox.errors import ApiError, api_error

CHUNK = 256 * 1024
MAX_FORM_BYTES = 64 * 1024 * 1024  # text parameters (the json payload) of one request
MAX_FIELDS = 1000


@dataclass
class Upload:
    """The ``file`` part of a multipart request, saved on disk."""

    path: Path
    filename: str
    content_type: str | None
    size: int

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class ApiRequest:
    """The parsed parameters of one API call."""

    method: str
    endpoint: str
    params: dict[str, str]  # every text parameter as received, ``sig`` included
    upload: Upload | None = None
    multipart: bool = False
    upload_taken: bool = False  # an accepted job owns the file from now on
    payload: Any = field(default=None)  # the decoded ``json`` (or the flat parameters)

    def signed_params(self) -> dict[str, str]:
        return {key: value for key, value in self.params.items() if key != "sig"}


def parse_query(raw: bytes) -> dict[str, str]:
    """``a=1&b=2`` as received, decoded as strict UTF-8 (error 6 otherwise)."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as error:
        raise api_error(errors.INVALID_UTF8) from error
    except ValueError as error:  # too many fields
        raise api_error(contract.INVALID_JSON) from error
    return dict(pairs)


def read_request(
    environ: dict[str, Any], endpoint: str, upload_dir: Path, max_upload: int
) -> ApiRequest:
    """Parse the parameters (and file) of a request, or raise the API's error."""
    method = environ["REQUEST_METHOD"].upper()
    params = parse_query(environ.get("QUERY_STRING", "").encode("latin-1"))
    request = ApiRequest(method, endpoint, params)
    if method != "POST":
        return request
    content_type, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    length = _content_length(environ)
    if content_type == "multipart/form-data":
        request.multipart = True
        if length is not None and length > max_upload + MAX_FORM_BYTES:
            raise api_error(contract.FILE_TOO_LARGE)
        boundary = options.get("boundary", "").encode("latin-1")
        if not boundary:
            raise api_error(contract.UPLOAD_FAILED)
        stream = get_input_stream(environ, safe_fallback=True)
        fields, request.upload = _read_multipart(stream, boundary, upload_dir, max_upload)
        request.params.update(fields)
    else:
        if length is not None and length > MAX_FORM_BYTES:
            raise api_error(contract.FILE_TOO_LARGE)
        stream = get_input_stream(environ, safe_fallback=True)
        body = stream.read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            raise api_error(contract.FILE_TOO_LARGE)
        request.params.update(parse_query(body))
    return request


def decode_payload(request: ApiRequest) -> Any:
    """The ``json`` parameter decoded (``null`` is None), or the flat parameters without it."""
    if "json" in request.params:
        try:
            payload = json.loads(request.params["json"])
        except ValueError as error:
            raise api_error(contract.INVALID_JSON) from error
        if payload is not None and not isinstance(payload, dict):
            raise api_error(contract.INVALID_JSON)
        return payload
    return _unflatten(
        {k: v for k, v in request.params.items() if k not in {"api_key", "sig", "format"}}
    )


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """``fields[vars][userId]=1`` (the form encoding of nested parameters) as nested dicts."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition("[")
        parts = [head] + [part.rstrip("]") for part in rest.split("[")] if rest else [head]
        node = nested
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return nested


def _content_length(environ: dict[str, Any]) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _chunks(stream: Any) -> Iterator[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


class _MultipartReader:
    """Text fields in memory (capped), the ``file`` part streamed to disk (capped)."""

    def __init__(self, boundary: bytes, upload_dir: Path, max_upload: int) -> None:
        self.decoder = MultipartDecoder(
            boundary, max_form_memory_size=MAX_FORM_BYTES, max_parts=MAX_FIELDS
        )
        self.upload_dir = upload_dir
        self.max_upload = max_upload
        self.fields: dict[str, str] = {}
        self.upload: Upload | None = None
        self.current: Field | File | None = None
        self.text = bytearray()
        self.sink: Any = None

    def read(self, stream: Any) -> None:
        chunks = _chunks(stream)
        ended = False
        while True:
            try:
                event = self.decoder.next_event()
            except (ValueError, AttributeError):
                if ended and self._lenient_end():
                    return
                raise
            if isinstance(event, NeedData):
                chunk = next(chunks, None)
                ended = chunk is None
                self.decoder.receive_data(chunk)
            elif isinstance(event, File | Field):
                self._start_part(event)
            elif isinstance(event, Data):
                self._data(event.data, event.more_data)
            elif isinstance(event, Epilogue):
                return

    def _lenient_end(self) -> bool:
        """A body that ends without its closing boundary (the .NET client): accept it."""
        state = self.decoder.state.name
        if state in {"DATA", "DATA_START"} and self.current is not None:
            rest = bytes(self.decoder.buffer)
            if state == "DATA_START":
                rest = rest.removeprefix(b"\r\n").removeprefix(b"\n")
            self._data(rest.removesuffix(b"\n").removesuffix(b"\r"), more_data=False)
            return True
        # Ended right after a boundary line: every part was complete.
        return state == "PART" and bool(self.fields) and not bytes(self.decoder.buffer).strip()

    def _start_part(self, event: Field | File) -> None:
        self.current = event
        self.text.clear()
        # The part named ``file`` is the upload even without a filename (then the decoder
        # calls it a Field): it goes to disk, and it is never a signed text parameter.
        if event.name == "file" and self.upload is None:
            self.upload_dir.mkdir(parents=True, exist_ok=True)
            path = self.upload_dir / f"upload-{secrets.token_hex(8)}"
            self.sink = open(path, "wb")  # noqa: SIM115 (closed at the part's end or on errors)
            filename = event.filename if isinstance(event, File) else ""
            self.upload = Upload(path, filename, event.headers.get("Content-Type"), 0)

    def _data(self, data: bytes, more_data: bool) -> None:
        to_file = self.sink is not None
        if to_file and self.upload is not None:
            self.upload.size += len(data)
            if self.upload.size > self.max_upload:
                raise api_error(contract.FILE_TOO_LARGE)
            self.sink.write(data)
        elif isinstance(self.current, Field):
            if len(self.text) + len(data) > MAX_FORM_BYTES:
                raise api_error(contract.FILE_TOO_LARGE)
            self.text.extend(data)
        if not more_data:
            if isinstance(self.current, Field) and not to_file:
                self.fields[self.current.name] = _decode_field(bytes(self.text))
            self.close()
            self.current = None

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None

    def abandon(self) -> None:
        self.close()
        if self.upload is not None:
            self.upload.discard()


def _read_multipart(
    stream: Any, boundary: bytes, upload_dir: Path, max_upload: int
) -> tuple[dict[str, str], Upload | None]:
    reader = _MultipartReader(boundary, upload_dir, max_upload)
    try:
        reader.read(stream)
    except ApiError:
        reader.abandon()
        raise
    except (ValueError, AttributeError, RequestEntityTooLarge, OSError) as error:
        reader.abandon()
        raise api_error(contract.UPLOAD_FAILED) from error
    reader.close()
    return reader.fields, reader.upload


def _decode_field(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise api_error(errors.INVALID_UTF8) from error


def remove_quietly(path: str | os.PathLike[str] | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
