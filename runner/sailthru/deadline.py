"""A total deadline for one HTTP exchange: its request and the reading of its answer.

requests' timeouts bound one connect and each socket read, not the whole exchange: an
answer that trickles one byte a second, or a chunked answer that never ends, keeps a
request alive forever. Here every socket of an exchange is known (``DeadlineAdapter``
installs connection classes that register their sockets with the thread's current
``Exchange``), and a timer shuts those sockets down when the exchange's time is up. The
blocked read then returns at once, requests raises a connection error, and the caller sees
``exchange.expired``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

_current = threading.local()


class Exchange:
    """One request and its answer, cut short after ``seconds`` (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None

    def allow(self, seconds: float) -> None:
        """End the exchange ``seconds`` from now instead (a download learns its size from
        the headers, and may take longer than the headers did)."""
        with self._lock:
            if self._done or self.expired:
                return
            self.seconds = seconds
            self._start_timer(seconds)

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            cut = self.expired
        if cut:
            _shut(sock)

    def cut(self) -> None:
        """Shut every socket of the exchange down; its blocked read returns at once."""
        with self._lock:
            if self._done or self.expired:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def _start_timer(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(seconds, self.cut)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> Exchange:
        with self._lock:
            self._start_timer(self.seconds)
        _current.exchange = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.exchange = None
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()


@contextlib.contextmanager
def exchange(seconds: float) -> Iterator[Exchange]:
    """``with exchange(120) as ex:`` around one request and the reading of its answer."""
    with Exchange(seconds) as current:
        yield current


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: socket.socket | None) -> None:
    current: Exchange | None = getattr(_current, "exchange", None)
    if current is not None:
        current.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        _watch(self.sock)  # a kept-alive connection brings its socket from the pool
        super().request(*args, **kwargs)  # type: ignore[arg-type]


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # the raw socket: a cut also ends a TLS handshake that trickles
        return sock

    def request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[arg-type]


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections register their sockets with the current ``Exchange``."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: object
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS brings its own connection classes
            manager.pool_classes_by_scheme = _WATCHED_POOLS  # through HTTP(S)_PROXY too
        return manager


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}
