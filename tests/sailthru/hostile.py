"""Behaviours of a hostile server (for ``ScriptedServer``): answers that trickle, never end,
or are far larger than they should be. Each stops when the client hangs up."""

from __future__ import annotations

import contextlib
import time

from scripted_servers import Behaviour, Handler, Received


def _headers(handler: Handler, status: int, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()


def trickle(prefix: bytes = b'{"job_id": "', every: float = 0.2, length: int = 10**6) -> Behaviour:
    """A 200 that promises ``length`` bytes and sends one byte every ``every`` seconds (far
    faster than any read timeout notices)."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.close_connection = True
        with contextlib.suppress(OSError):
            _headers(handler, 200, {"Content-Type": "application/json",
                                    "Content-Length": str(length)})  # fmt: skip
            for byte in prefix + b"x" * length:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)

    return behave


def endless_chunks(chunk: bytes = b"a,b\n", every: float = 0.05) -> Behaviour:
    """A chunked 200 whose chunks keep coming, a little at a time, and never end."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.close_connection = True
        with contextlib.suppress(OSError):
            _headers(handler, 200, {"Content-Type": "text/csv", "Transfer-Encoding": "chunked"})
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                handler.wfile.flush()
                time.sleep(every)

    return behave


def endless_json(block: int = 1024 * 1024) -> Behaviour:
    """A chunked JSON answer sent as fast as the client reads it, without end: a list that
    never closes."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.close_connection = True
        data = b"[" + b"1," * (block // 2)
        with contextlib.suppress(OSError):
            _headers(handler, 200, {"Content-Type": "application/json",
                                    "Transfer-Encoding": "chunked"})  # fmt: skip
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                data = b"1," * (block // 2)

    return behave


def huge_file(length: int, headers: dict[str, str] | None = None) -> Behaviour:
    """A 200 announcing ``length`` bytes and sending zeros as fast as they are read."""

    def behave(handler: Handler, received: Received) -> None:
        handler.close_connection = True
        block = b"0" * (1024 * 1024)
        with contextlib.suppress(OSError):
            _headers(handler, 200, {"Content-Type": "text/csv", "Content-Length": str(length),
                                    **(headers or {})})  # fmt: skip
            sent = 0
            while sent < length:
                handler.wfile.write(block[: length - sent])
                sent += len(block)

    return behave


def trickle_headers(every: float = 0.2) -> Behaviour:
    """The status line and then headers, one byte at a time, without end."""

    def behave(handler: Handler, received: Received) -> None:
        handler.read_body(received)
        handler.close_connection = True
        with contextlib.suppress(OSError):
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 10**6:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(every)

    return behave
