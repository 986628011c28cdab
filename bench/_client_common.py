"""Shared pieces of the client benchmarks: test files, child processes measured one by one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


def make_csv(path: Path, size: int) -> None:
    """A CSV of ``size`` bytes (email rows), written in big blocks."""
    row = b"someone.with.a.long.address@example.com,Main Newsletter,2024-01-01\n"
    block = row * (MIB // len(row) + 1)
    with open(path, "wb") as out:
        out.write(b"email,list,date\n")
        written = 16
        while written < size:
            chunk = block[: min(len(block), size - written)]
            out.write(chunk)
            written += len(chunk)


@dataclass
class Measured:
    """One variant's run: wall time of the child, time it reported, peak RSS (MiB)."""

    name: str
    wall: float
    inner: float | None
    peak_rss_mib: float
    output: dict[str, object]

    @property
    def seconds(self) -> float:
        """The time of the work itself (without interpreter start-up when the child reports it)."""
        return self.inner if self.inner is not None else self.wall


def measure(name: str, argv: list[str]) -> Measured:
    """Run ``argv`` as a child; its own peak RSS comes from wait4 (per child, not cumulative)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        sys.exit(f"{name} failed ({process.returncode}): {stderr.decode(errors='replace')[-2000:]}")
    output: dict[str, object] = {}
    text = stdout.decode().strip()
    if text.startswith("{"):
        output = json.loads(text.splitlines()[-1])
    inner = output.get("seconds")
    return Measured(
        name,
        wall,
        float(inner) if isinstance(inner, int | float) else None,
        usage.ru_maxrss / 1024,  # Linux reports KiB
        output,
    )


def best(runs: list[Measured]) -> Measured:
    """The fastest of a variant's runs, with the highest peak RSS of them all.

    Rounds are interleaved (a, b, c, a, b, c, …) so that a burst of load from other
    processes on the machine hits every variant alike; the minimum is the least disturbed.
    """
    fastest = min(runs, key=lambda r: r.seconds)
    peak = max(r.peak_rss_mib for r in runs)
    return Measured(fastest.name, fastest.wall, fastest.inner, peak, fastest.output)


def report(results: list[Measured], rounds: int) -> None:
    width = max(len(r.name) for r in results)
    print(f"best of {rounds} interleaved round(s); peak RSS is the highest of all rounds")
    for r in results:
        print(f"  {r.name:<{width}}  {r.seconds:7.2f} s  peak RSS {r.peak_rss_mib:8.1f} MiB")
