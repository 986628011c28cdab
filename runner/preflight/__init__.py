"""Pre-flight: files checked before they are uploaded (CSV and email lists, purchase JSON
lines), on both cores for a big file. Imports only the leaf helpers of ``runner``, and
never pydantic, so that its worker processes start fast.

Face: ``check_file(kind, path)`` → ``PreflightReport``; ``check_job_files`` (a job's files,
by the checks its job type names).
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

if TYPE_CHECKING:
    from runner.preflight.checks import PreflightReport, check_file
    from runner.preflight.jobfiles import check_job_files, check_manifest_files

__all__ = ["PreflightReport", "check_file", "check_job_files", "check_manifest_files"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PreflightReport": "runner.preflight.checks",
        "check_file": "runner.preflight.checks",
        "check_job_files": "runner.preflight.jobfiles",
        "check_manifest_files": "runner.preflight.jobfiles",
    },
)
