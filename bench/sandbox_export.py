"""Benchmark: export_list_data of a 100,000-user and a 1,000,000-user list on the sandbox.

For each size: seed a fresh data directory (batched inserts, timed), start
``sailjobs sandbox serve`` in its own process (so its memory is the server's alone), submit
the export through the official client, poll until completed, download and count the CSV.

Prints rows/s (target >= 100,000), rows per CPU second of the server process (steady on a busy
shared machine, where wall time is not) and the server's peak RSS (VmHWM; target: 1 M within
1.5x of 100 k). Baseline measured in the same run: iterating the same SELECT with no CSV and no
HTTP, i.e. the fastest SQLite can hand the rows over; the ratio shows what the job adds.

    .venv/bin/python bench/sandbox_export.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from sailthru.sailthru_client import SailthruClient

from runner.sandbox.seed import seed_big_list
from runner.sandbox.store import Store

LIST = "Bench List"
TARGET_ROWS_PER_SECOND = 100_000
TARGET_RSS_RATIO = 1.5


def seed(data_dir: Path, size: int) -> float:
    started = time.perf_counter()
    store = Store(data_dir / "sandbox.sqlite3")
    try:
        seed_big_list(store, LIST, size)
    finally:
        store.close()
    return time.perf_counter() - started


def baseline_rows_per_second(data_dir: Path) -> float:
    """The same rows straight off a cursor: no CSV, no HTTP, no job."""
    db = sqlite3.connect(data_dir / "sandbox.sqlite3")
    try:
        started = time.perf_counter()
        count = 0
        for _ in db.execute(
            "SELECT u.* FROM list_members m JOIN users u ON u.id = m.user_id"
            " WHERE m.list_id = (SELECT id FROM lists WHERE name = ?) ORDER BY m.user_id",
            (LIST,),
        ):
            count += 1
        return count / (time.perf_counter() - started)
    finally:
        db.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (robust on a busy shared machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    sailjobs = Path(sys.executable).with_name("sailjobs")
    command = [str(sailjobs), "sandbox", "serve", "--port", "0", "--data", str(data_dir)]
    process = subprocess.Popen(
        [*command, "--job-time", "0", "--rate-limit-get", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    if not first_line.startswith("Sailthru sandbox at "):
        process.kill()
        raise SystemExit(f"the sandbox did not start: {first_line!r}")
    return process, first_line.split()[-1]


def export(url: str, size: int) -> tuple[float, int]:
    """Seconds from submit to completed, and the rows downloaded."""
    client = SailthruClient("sandbox-key", "sandbox-secret", url, request_timeout=60)
    started = time.perf_counter()
    job_id = client.api_post("job", {"job": "export_list_data", "list": LIST}).get_body()["job_id"]
    while True:
        job = client.api_get("job", {"job_id": job_id}).get_body()
        if job.get("status") in ("completed", "error") or "errormsg" in job:
            break
        time.sleep(0.1)  # often enough to time the job, rare enough not to slow it
    elapsed = time.perf_counter() - started
    if job["status"] != "completed":
        raise SystemExit(f"export failed: {job}")
    rows = 0
    with tempfile.TemporaryFile() as spool:
        with requests.get(job["export_url"], stream=True, timeout=60) as response:
            response.raise_for_status()
            for chunk in response.iter_content(1024 * 1024):
                spool.write(chunk)
        spool.seek(0)
        with io.TextIOWrapper(spool, encoding="utf-8", newline="") as text:
            for _ in csv.reader(text):
                rows += 1
    if rows - 1 != size:
        raise SystemExit(f"expected {size} rows, downloaded {rows - 1}")
    return elapsed, rows - 1


def run(size: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    try:
        seed_seconds = seed(data_dir, size)
        baseline = baseline_rows_per_second(data_dir)
        process, url = start_server(data_dir)
        try:
            cpu_before = cpu_seconds(process.pid)
            elapsed, rows = export(url, size)
            server_cpu = cpu_seconds(process.pid) - cpu_before
            rss = peak_rss_mb(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
        return {
            "size": size,
            "seed_s": seed_seconds,
            "rows_per_s": rows / elapsed,
            "cpu_rows_per_s": rows / max(server_cpu, 1e-9),
            "baseline_rows_per_s": baseline,
            "rss_mb": rss,
            "db_mb": (data_dir / "sandbox.sqlite3").stat().st_size / 1024**2,
        }
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    results = []
    for size in sizes:
        result = run(size)
        results.append(result)
        print(
            f"{size:>9,} users: seed {result['seed_s']:6.1f} s"
            f" | export {result['rows_per_s']:>9,.0f} rows/s"
            f" ({result['cpu_rows_per_s']:>9,.0f} per server CPU second)"
            f" (SQLite cursor alone {result['baseline_rows_per_s']:>9,.0f} rows/s,"
            f" ratio {result['rows_per_s'] / result['baseline_rows_per_s']:.2f})"
            f" | server peak RSS {result['rss_mb']:6.1f} MB | db {result['db_mb']:.0f} MB",
            flush=True,
        )
    slowest = min(result["rows_per_s"] for result in results)
    verdict = "OK" if slowest >= TARGET_ROWS_PER_SECOND else "BELOW TARGET"
    print(
        f"slowest export: {slowest:,.0f} rows/s (target >= {TARGET_ROWS_PER_SECOND:,}): {verdict}"
    )
    if len(results) >= 2:
        ratio = results[-1]["rss_mb"] / results[0]["rss_mb"]
        verdict = "OK" if ratio <= TARGET_RSS_RATIO else "ABOVE TARGET"
        print(
            f"peak RSS {results[-1]['size']:,} vs {results[0]['size']:,}: {ratio:.2f}x"
            f" (target <= {TARGET_RSS_RATIO}x): {verdict}"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
