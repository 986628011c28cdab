"""Benchmark: the purchase_import pre-flight check against a plain ``json.loads`` loop.

    .venv/bin/python bench/preflight.py                 # a 1 GB file (the API's limit)
    .venv/bin/python bench/preflight.py --size 200MB    # a quicker run
    .venv/bin/python bench/preflight.py --keep DIR      # keep (and reuse) the generated file

It generates a purchase_import file (valid lines in the format of job-api.txt's example, a few
invalid ones spread through it), warms the page cache, then times, each in a fresh child
process and on the same file:

- the baseline: ``for line in file: json.loads(line)`` (parses, validates nothing);
- our check: ``runner.preflight.check_file("purchases", path)`` (validates every field,
  counts repeated extids, on every core), and the same on one core for reference.

It prints both throughputs, their ratio (target >= 3x) and peak RSS (target <= 64 MiB): of
the check's own process (which has the whole runner imported, pydantic included) and of one
worker process, measured from a small launcher so that the launcher's memory is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 3.0
TARGET_RSS_MIB = 64
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
BAD_EVERY = 250_000  # one invalid line in this many


def parse_size(text: str) -> int:
    found = _SIZE.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (write 200MB, 1GB, 1GiB)")
    return int(float(found[1]) * _UNITS[(found[2] or "B").upper()])


def generate(path: Path, size: int) -> int:
    """Write about ``size`` bytes of purchase lines (never over the API's 1 GiB); lines."""
    size = min(size, 2**30)
    rng = random.Random(7)
    products = [
        (f"SKU{n:04d}", f"Product {n} in Black", f"http://example.com/products/{n}")
        for n in range(200)
    ]
    item = (
        '{{"qty":{qty},"id":"{sku}","title":"{title}","url":"{url}","price":{price},'
        '"tags":["shoes","footwear","color-black"],"vars":{{"sailthru_category":"shoes"}},'
        '"image":"http://email-media.s3.amazonaws.com/Sailthru/default/images/stock/shoes.jpg"}}'
    )
    written = lines = 0
    with path.open("w", encoding="utf-8", newline="\n") as stream:
        while True:
            items = ",".join(
                item.format(qty=rng.randint(1, 3), sku=sku, title=title, url=url, price=price)
                for sku, title, url in rng.sample(products, rng.randint(1, 3))
                for price in (rng.randint(100, 30000),)
            )
            line = (
                f'{{"email":"user{lines}@example.com","date":"2026-0{1 + lines % 9}-1{lines % 10}",'
                f'"purchase_keys":{{"extid":"order-{lines}"}},"items":[{items}],'
                f'"vars":{{"order_level_var":"v{lines % 97}"}},'
                f'"adjustments":[{{"price":-500,"title":"Sale"}}]}}\n'
            )
            if lines % BAD_EVERY == BAD_EVERY - 1:
                line = line.replace('"price":-500', '"price":"-5.00"')
            if written + len(line) > size:
                break
            stream.write(line)
            written += len(line)
            lines += 1
    return lines


def cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (the check's workers)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child_baseline(path: str) -> dict[str, float]:
    started, cpu = time.perf_counter(), cpu_seconds()
    lines = 0
    with open(path, "rb") as stream:
        for line in stream:
            json.loads(line)
            lines += 1
    return {"seconds": time.perf_counter() - started, "cpu": cpu_seconds() - cpu, "lines": lines}


def child_check(path: str, workers: int | None) -> dict[str, object]:
    from runner.preflight.checks import check_file

    started, cpu = time.perf_counter(), cpu_seconds()
    report = check_file("purchases", Path(path), workers=workers)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu": cpu_seconds() - cpu,
        "lines": report.lines,
        "invalid": report.invalid,
        "summary": report.summary(),
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_worker_rss(path: str) -> dict[str, float]:
    """Run one worker over the whole file from this small process; its peak RSS."""
    from runner.preflight.pool import run_ranges
    from runner.preflight.scan import RANGE_BYTES, line_aligned_ranges

    size = os.path.getsize(path)
    ranges = line_aligned_ranges(Path(path), size, RANGE_BYTES)
    for _ in run_ranges("purchases", Path(path), ranges, 1, 10):
        pass
    return {"rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def run_child(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=2**30, help="file size (default 1GiB)")
    parser.add_argument("--keep", type=Path, help="directory to keep and reuse the file in")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path = args.child
        results = {
            "baseline": lambda: child_baseline(path),
            "check": lambda: child_check(path, None),
            "check1": lambda: child_check(path, 1),
            "worker": lambda: child_worker_rss(path),
        }[mode]()
        print(json.dumps(results))
        return 0

    with tempfile.TemporaryDirectory(prefix="sailjobs-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"purchases-{args.size}.jsonl"
        if not path.exists():
            started = time.perf_counter()
            lines = generate(path, args.size)
            print(
                f"generated {path.stat().st_size:,} bytes, {lines:,} lines "
                f"in {time.perf_counter() - started:.1f} s"
            )
        size = path.stat().st_size
        with path.open("rb") as stream:  # warm the page cache for both contenders
            while stream.read(8 << 20):
                pass
        mb = size / 1e6
        load_before = os.getloadavg()[0]
        baseline = run_child("--child", "baseline", str(path))
        check = run_child("--child", "check", str(path))
        check1 = run_child("--child", "check1", str(path))
        worker = run_child("--child", "worker", str(path))
        load = max(load_before, os.getloadavg()[0])
        cores = os.cpu_count() or 1
        base_rate = mb / baseline["seconds"]
        rate, rate1 = mb / check["seconds"], mb / check1["seconds"]
        ratio = rate / base_rate
        print(f"file:              {size:,} bytes, {baseline['lines']:,} lines, {cores} cores")
        print(
            f"json.loads loop:   {base_rate:8.1f} MB/s  ({baseline['seconds']:.2f} s wall, "
            f"{baseline['cpu']:.2f} s CPU, one core)"
        )
        print(
            f"check, all cores:  {rate:8.1f} MB/s  ({check['seconds']:.2f} s wall, "
            f"{check['cpu']:.2f} s CPU)  -> {check['summary']}"
        )
        print(
            f"check, one core:   {rate1:8.1f} MB/s  ({check1['seconds']:.2f} s wall, "
            f"{check1['cpu']:.2f} s CPU)"
        )
        print(
            f"ratio:             {ratio:8.2f}x  (target >= {TARGET_RATIO:.0f}x: "
            f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}); one core "
            f"{rate1 / base_rate:.2f}x; CPU per byte, baseline/check "
            f"{baseline['cpu'] / check1['cpu']:.2f}x"
        )
        if load > cores * 0.75:
            print(
                f"note:              load average was {load:.1f} on {cores} cores: other "
                "processes shared the cores, so wall-clock figures (above all the all-cores "
                "one) are low; the CPU ratio is the steadier figure"
            )
        main_rss, worker_rss = check["rss_mib"], worker["rss_mib"]
        peak = max(main_rss, worker_rss)
        print(
            f"peak RSS:          check process {main_rss:.1f} MiB, one worker {worker_rss:.1f} MiB "
            f"(target <= {TARGET_RSS_MIB} MiB per process: "
            f"{'met' if peak <= TARGET_RSS_MIB else 'NOT met'}); "
            f"all {cores + 1} processes together <= {main_rss + cores * worker_rss:.1f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
