"""The process exit codes of the command-line contract, in one enum (pytest's ExitCode habit)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every job succeeded
    JOB_FAILED = 1  # at least one job failed, timed out or was skipped
    INVALID = 2  # invalid manifest or usage; nothing was sent
    INTERRUPTED = 130  # SIGINT/SIGTERM; the run can be resumed
