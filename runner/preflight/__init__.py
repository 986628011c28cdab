"""Pre-flight: files checked before they are uploaded (CSV and email lists, purchase JSON
lines), on both cores for a big file. Imports only the leaf helpers of ``runner``, and
never pydantic, so that its worker processes start fast.

Face: ``check_file(kind, path)`` → ``PreflightReport``; ``check_job_files``.
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

if TYPE_CHECKING:
    from runner.preflight.checks import (
        PreflightReport,
        check_file,
        check_job_files,
        check_manifest_files,
    )

__all__ = ["PreflightReport", "check_file", "check_job_files", "check_manifest_files"]
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "runner.preflight.checks"))
