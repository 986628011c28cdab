"""Worker processes for pre-flight scans (``python -m runner.preflight.worker``), and
``scan_lines``, which runs a scanner on them for a big file.

Why not multiprocessing: its spawn and forkserver methods re-import the caller's ``__main__``
in every worker (an unguarded script would run again), and fork is unsafe in a process with
threads (a server, a progress display). Here each worker is a plain child interpreter that
reads one task from stdin and streams one pickled result per range to stdout.

Worker ``i`` of ``n`` takes ranges ``i, i+n, i+2n, …``; the parent reads the results in range
order, so a worker that runs ahead blocks on its pipe: memory stays bounded without a queue.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from array import array
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner.preflight.scan import (
    PARALLEL_MIN_BYTES,
    RANGE_BYTES,
    SCANNERS,
    DuplicateCounter,
    FileProblem,
    ScanResult,
    line_aligned_ranges,
)
from runner.preflight.worker import TASK_VERSION


def run_ranges(
    scanner_name: str,
    path: Path,
    ranges: list[tuple[int, int]],
    workers: int,
    max_problems: int,
) -> Iterator[Any]:
    """Yield each range's ScanResult, in range order, computed by ``workers`` processes."""
    workers = max(1, min(workers, len(ranges)))
    env = dict(os.environ)
    # The child must import this very package, whatever the caller's sys.path was.
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding runner/
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONHASHSEED"] = "0"  # every worker hashes duplicate keys alike (key_hash)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(workers):
            process = subprocess.Popen(
                [sys.executable, "-m", "runner.preflight.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            processes.append(process)
            task = (TASK_VERSION, scanner_name, str(path), ranges[index::workers], max_problems)
            assert process.stdin is not None
            pickle.dump(task, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.close()
        for number in range(len(ranges)):
            yield _read_result(processes[number % workers])
        for process in processes:
            _finish(process)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def _read_result(process: subprocess.Popen[bytes]) -> Any:
    assert process.stdout is not None
    try:
        result = pickle.load(process.stdout)
    except EOFError:
        process.wait()
        raise RuntimeError(f"a pre-flight worker stopped: {_stderr_tail(process)}") from None
    if isinstance(result, OSError):  # the file could not be read: the caller reports it
        raise result
    return result


def _finish(process: subprocess.Popen[bytes]) -> None:
    if process.wait() != 0:
        raise RuntimeError(f"a pre-flight worker failed: {_stderr_tail(process)}")


def _stderr_tail(process: subprocess.Popen[bytes]) -> str:
    assert process.stderr is not None
    text = process.stderr.read().decode("utf-8", errors="replace").strip()
    return text.splitlines()[-1] if text else f"exit code {process.returncode}"


def scan_lines(
    scanner_name: str,
    path: Path,
    size: int,
    *,
    max_problems: int,
    workers: int | None,
    duplicates: DuplicateCounter,
) -> ScanResult:
    """Run a scanner of SCANNERS over the file, on several processes for a big file."""
    workers = (os.cpu_count() or 1) if workers is None else max(1, workers)
    if workers == 1 or size < PARALLEL_MIN_BYTES:
        result = SCANNERS[scanner_name](str(path), 0, None, max_problems)
        duplicates.add(result.keys)
        result.keys = array("Q")
        return result
    total = ScanResult()
    ranges = line_aligned_ranges(path, size, RANGE_BYTES)
    for part in run_ranges(scanner_name, path, ranges, workers, max_problems):
        _merge(total, part, max_problems)
        duplicates.add(part.keys)
    return total


def _merge(total: ScanResult, part: ScanResult, max_problems: int) -> None:
    """Add a range's result after the ranges before it, shifting its line numbers."""
    for problem in part.problems:
        if len(total.problems) >= max_problems:
            break
        line = problem.line + total.physical_lines
        total.problems.append(FileProblem(line, problem.path, problem.message))
    for warning in part.warnings.values():
        shift = total.physical_lines
        total.count_warning(
            replace(warning, line=warning.line + shift, last_line=warning.last_line + shift)
        )
    total.lines += part.lines
    total.physical_lines += part.physical_lines
    total.invalid += part.invalid
    total.skipped += part.skipped
