"""Upload benchmark: plain ``requests.post(files=...)`` (what the official client does) against
``SailthruClient.submit_job(file=...)``, one child process each, same file, same local server.

    .venv/bin/python bench/upload.py            # 1 GiB
    .venv/bin/python bench/upload.py --size-mib 64

Targets (issue 4): our peak RSS <= 64 MiB; our time <= plain's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _client_common import MIB, Measured, best, make_csv, measure, report

API_KEY, SECRET = "bench-key", "bench-secret"
JOB_ANSWER = json.dumps({"job_id": "0" * 24, "name": "List Import: L", "status": "pending"})


class Receiver(BaseHTTPRequestHandler):
    """Reads the whole body (as fast as the socket allows), then answers like POST /job."""

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        remaining = int(self.headers["Content-Length"])
        while remaining > 0:
            chunk = self.rfile.read(min(4 * MIB, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        self.server.received.append(int(self.headers["Content-Length"]) - remaining)  # type: ignore[attr-defined]
        body = JOB_ANSWER.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def child_plain(url: str, path: str) -> None:
    import requests

    from runner.sailthru.wire import signed_params

    params = signed_params(API_KEY, SECRET, {"job": "import", "list": "L"})
    started = time.perf_counter()
    with open(path, "rb") as handle:
        response = requests.post(f"{url}/job", data=params, files={"file": handle}, timeout=600)
    response.raise_for_status()
    print(json.dumps({"seconds": time.perf_counter() - started}))


def child_ours(url: str, path: str) -> None:
    from runner.sailthru.client import SailthruClient

    started = time.perf_counter()
    with SailthruClient(API_KEY, SECRET, url) as client:
        job = client.submit_job({"job": "import", "list": "L"}, file=Path(path))
    assert job.job_id
    print(json.dumps({"seconds": time.perf_counter() - started}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=["plain", "ours"])
    parser.add_argument("--url")
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.child:
        {"plain": child_plain, "ours": child_ours}[args.child](args.url, args.file)
        return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="sailjobs-bench-") as tmp:
        path = Path(tmp) / "upload.csv"
        make_csv(path, args.size_mib * MIB)
        size = path.stat().st_size
        print(f"upload of {size / MIB:.0f} MiB to a local receiver")
        runs: dict[str, list[Measured]] = {"plain": [], "ours": []}
        for _ in range(args.rounds):
            for name, variant_runs in runs.items():
                argv = [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    "--url",
                    url,
                    "--file",
                    str(path),
                ]
                variant_runs.append(measure(name, argv))
        results = [best(variant_runs) for variant_runs in runs.values()]
    server.shutdown()
    server.server_close()
    assert all(received >= size for received in server.received), server.received  # type: ignore[attr-defined]
    report(results, args.rounds)
    plain, ours = results
    ratio = ours.seconds / plain.seconds
    print(f"time ratio ours/plain: {ratio:.2f} (target <= 1.00)")
    print(
        f"our peak RSS: {ours.peak_rss_mib:.1f} MiB (target <= 64); plain: {plain.peak_rss_mib:.1f} MiB"
    )
    ok = ours.peak_rss_mib <= 64 and ratio <= 1.0
    print("targets met" if ok else "TARGETS MISSED")


if __name__ == "__main__":
    main()
