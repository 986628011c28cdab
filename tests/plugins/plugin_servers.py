"""Real servers on loopback for the first-party plugins' tests: SMTP (aiosmtpd, with
STARTTLS, SSL and AUTH), a webhook receiver (threaded http.server) with scripted answers,
and a self-signed certificate made at test time."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A CA-flagged self-signed certificate for 127.0.0.1 and localhost: (cert, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sailjobs test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.sink.temporary_failures > 0:
            self.sink.temporary_failures -= 1
            return "451 4.3.0 Try again later"
        login = session.auth_data.login.decode() if session.auth_data else None
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.sink.messages.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message, login)
        )
        return "250 OK"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.

    ``mode``: "plain", "starttls" (needs ``cert``) or "ssl" (implicit TLS, needs ``cert``).
    ``credentials``: (user, password) to require AUTH.
    """

    def __init__(
        self,
        mode: str = "plain",
        cert: tuple[Path, Path] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.messages: list[ReceivedMail] = []
        self.temporary_failures = 0  # answer 451 to this many messages first
        self.auth_attempts = 0
        self.host, self.port = "127.0.0.1", free_port()
        tls_context = None
        if cert is not None:
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(*cert)
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            kwargs["authenticator"] = self._authenticator(credentials)
            kwargs["auth_require_tls"] = mode != "plain"
        if mode == "starttls":
            kwargs.update(tls_context=tls_context, require_starttls=True)
        self.controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=tls_context if mode == "ssl" else None,
            server_hostname="localhost" if mode == "ssl" else None,
            **kwargs,
        )

    def _authenticator(self, credentials: tuple[str, str]) -> Any:
        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            self.auth_attempts += 1
            user, password = credentials
            ok = mechanism in ("LOGIN", "PLAIN") and (
                data.login.decode(),
                data.password.decode(),
            ) == (user, password)
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        return authenticate

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ScriptedAnswer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 recording every POST; answers are scripted.

    ``answer(status, body, headers)`` queues the next answers; when the queue is empty it
    answers 200 "ok" (as Slack does).
    """

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self.answers: deque[ScriptedAnswer] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.requests.append(ReceivedRequest(self.path, dict(self.headers), body))
                answer = receiver.answers.popleft() if receiver.answers else ScriptedAnswer()
                data = answer.body.encode()
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/secret-token-1234"

    def answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        self.answers.append(ScriptedAnswer(status, body, headers or {}))

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
