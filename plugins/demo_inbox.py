"""A local inbox for trying the email and chat plugins without real servers (`make demo-notify`).

    python plugins/demo_inbox.py sailjobs run manifests/demo-notify.yaml --sandbox

starts an SMTP server (aiosmtpd) and a webhook receiver on free loopback ports, runs the
command with ``DEMO_SMTP_PORT`` and ``DEMO_WEBHOOK`` set for the manifest to read
(``${{ env.DEMO_SMTP_PORT }}``), then prints every mail and post it received and exits with
the command's exit code. aiosmtpd comes with the test extras (``make`` installs them).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """What the two servers received, in order."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.posts: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _webhook_server(inbox: Inbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with inbox.lock:
                inbox.posts.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _show(inbox: Inbox) -> None:
    print(f"\n--- demo inbox: {len(inbox.mails)} mail(s), {len(inbox.posts)} webhook post(s)")
    for mail in inbox.mails:
        print(f"\nmail to {mail['To']}: {mail['Subject']}")
        print(mail.get_body(preferencelist=("plain",)).get_content().rstrip())
    for path, body in inbox.posts:
        try:
            shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            shown = body.decode(errors="replace")
        print(f"\nPOST {path}\n{shown}")


def main(command: list[str]) -> int:
    if not command:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python plugins/demo_inbox.py COMMAND...", file=sys.stderr)
        return 2
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    webhook = _webhook_server(inbox)
    serving = threading.Thread(target=webhook.serve_forever, kwargs={"poll_interval": 0.1})
    smtp.start()
    serving.start()
    try:
        env = {
            **os.environ,
            "DEMO_SMTP_PORT": str(smtp.port),
            "DEMO_WEBHOOK": f"http://127.0.0.1:{webhook.server_port}/services/demo/webhook",
        }
        code = subprocess.run(command, env=env).returncode
    finally:
        webhook.shutdown()
        webhook.server_close()
        serving.join()
        smtp.stop()
    _show(inbox)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
