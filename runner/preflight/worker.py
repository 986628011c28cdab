"""A pre-flight worker process: ``python -m runner.preflight.worker`` (started by
``runner.preflight.pool``). It reads one pickled task from stdin, runs the named scanner over
each of its byte ranges and streams one pickled result per range to stdout."""

from __future__ import annotations

import pickle
import sys
from typing import IO

from runner.preflight.scan import SCANNERS

TASK_VERSION = 1  # the task format runner.preflight.pool writes


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
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
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except BrokenPipeError:  # the parent stopped reading (interrupted or failed): just stop
        sys.exit(1)
