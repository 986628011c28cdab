"""Worker processes for pre-flight scans: ``python -m runner.preflight_pool``.

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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import runner

TASK_VERSION: Final = 1


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
    package_root = str(Path(runner.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONHASHSEED"] = "0"  # every worker hashes duplicate keys alike (key_hash)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(workers):
            process = subprocess.Popen(
                [sys.executable, "-m", "runner.preflight_pool"],
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


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from runner.preflight_scan import SCANNERS

    version, scanner_name, path, ranges, max_problems = pickle.load(stdin)
    if version != TASK_VERSION:
        raise SystemExit(f"pre-flight worker: task version {version}, expected {TASK_VERSION}")
    scanner = SCANNERS[scanner_name]
    for start, end in ranges:
        try:
            result: object = scanner(path, start, end, max_problems)
        except OSError as error:
            result = error
        pickle.dump(result, stdout, pickle.HIGHEST_PROTOCOL)
        stdout.flush()
        if isinstance(result, OSError):
            return


if __name__ == "__main__":
    try:
        _serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # the parent stopped reading (interrupted or failed): just stop
        sys.exit(1)
