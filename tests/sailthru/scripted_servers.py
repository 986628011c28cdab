"""Small HTTP servers on 127.0.0.1 that misbehave on purpose, for the client's tests.

``ScriptedServer`` answers each request with the next behaviour of its script (the last one
repeats): a JSON answer, a dropped connection before or after reading the body, a slow
answer, a file served with or without Range support, cut short on purpose. It records every
request that reached it, and whether its body was read to the end.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from requests_toolbelt.multipart.decoder import MultipartDecoder


@dataclass
class Received:
    """One request that reached the server."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)
    file: bytes | None = None
    file_name: str | None = None
    body_complete: bool = False
    body_read: bool = False

    @property
    def params(self) -> dict[str, str]:
        return self.form or self.query

    @property
    def payload(self) -> Any:
        return json.loads(self.params["json"])


Behaviour = Callable[["Handler", Received], None]


class Handler(BaseHTTPRequestHandler):
    server: ScriptedHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        received = Received(
            method=self.command,
            path=parts.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            query={k: v[0] for k, v in parse_qs(parts.query).items()},
        )
        behaviour = self.server.scripted.next_behaviour()
        self.server.scripted.record(received)
        behaviour(self, received)

    do_GET = do_POST = do_DELETE = _handle

    # -- helpers behaviours use --------------------------------------------------------

    def read_body(self, received: Received) -> None:
        if received.body_read:
            return
        received.body_read = True
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        received.body_complete = len(data) == length
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            received.form = {k: v[0] for k, v in parse_qs(data.decode("utf-8")).items()}
        elif ctype.startswith("multipart/form-data"):
            for part in MultipartDecoder(data, ctype).parts:
                disposition = part.headers[b"Content-Disposition"].decode()
                name = disposition.split('name="', 1)[1].split('"', 1)[0]
                if name == "file":
                    received.file = part.content
                    received.file_name = disposition.split('filename="', 1)[1].split('"')[0]
                else:
                    received.form[name] = part.text

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def reset_connection(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), as a crashed server or a proxy does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class ScriptedHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True
    scripted: ScriptedServer


class ScriptedServer:
    """Start with ``with ScriptedServer([behaviour, ...]) as server:``; ``server.url``."""

    def __init__(self, script: list[Behaviour]) -> None:
        self.script = list(script)
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ScriptedHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.scripted = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


# -- behaviours -------------------------------------------------------------------------


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Behaviour:
    """Read the body, then answer ``status`` with ``body`` as JSON."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.send_json(status, body, headers)

    return behave


def raw_answer(status: int, data: bytes, content_type: str = "application/json") -> Behaviour:
    """Read the body, then answer ``status`` with ``data`` exactly as given (any bytes)."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return behave


def job_answer(job_id: str = "5a1b2c3d4e5f60718293a4b5", **fields: Any) -> Behaviour:
    """A successful job answer; a GET echoes the requested job id."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        body = {"job_id": job_id, "name": "List Import: L", "status": "pending", **fields}
        if received.method == "GET":
            body["job_id"] = json.loads(received.query["json"])["job_id"]
        handler.send_json(200, body)

    return behave


def drop_before_body() -> Behaviour:
    """Read the request line and headers, then reset the connection without reading the body."""

    def behave(handler: Handler, received: Received) -> None:
        handler.reset_connection()

    return behave


def drop_after_body() -> Behaviour:
    """Read the whole body, then close the connection without answering."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.close_connection = True

    return behave


def truncated_answer(body: Any) -> Behaviour:
    """Read the body, then send a 200 whose JSON stops half-way (Content-Length not met)."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        data = json.dumps(body).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data[: len(data) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    return behave


def slow(delay: float, then: Behaviour) -> Behaviour:
    """Read the body, wait ``delay`` seconds, then behave like ``then``."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        time.sleep(delay)
        try:
            then(handler, received)
        except OSError:
            handler.close_connection = True  # the client gave up waiting

    return behave


def serve_file(
    data: bytes,
    *,
    ranges: bool = True,
    cut_at: int | None = None,
    headers: dict[str, str] | None = None,
) -> Behaviour:
    """Serve ``data`` (honouring Range when ``ranges``), optionally cut off after ``cut_at``
    bytes of the body (a Content-Length promise the connection then breaks)."""

    def behave(handler: Handler, received: Received) -> None:
        start = 0
        wanted = handler.headers.get("Range")
        status = 200
        if ranges and wanted and wanted.startswith("bytes="):
            start = int(wanted[len("bytes=") :].split("-", 1)[0])
            status = 206
        body = data[start:]
        handler.send_response(status)
        handler.send_header("Content-Type", "text/csv; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("ETag", '"v1"')
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        if ranges:
            handler.send_header("Accept-Ranges", "bytes")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        if cut_at is None:
            handler.wfile.write(body)
        else:
            handler.wfile.write(body[:cut_at])
            handler.wfile.flush()
            handler.close_connection = True  # FIN: what was written still arrives

    return behave


def status_only(status: int) -> Behaviour:
    """An empty answer with ``status`` (e.g. 410 for an expired export link)."""

    def behave(handler: Handler, received: Received) -> None:
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


API_KEY = "test-api-key"
SECRET = "test-secret-value-3f9a"


class FakeClock:
    """``clock()`` returns fake time; ``sleep(s)`` records the wait and advances the clock."""

    def __init__(self, start: float = 1_700_000_010.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
