"""The sandbox's side of a job type, for plugins: how ``sailjobs sandbox`` and
``run --sandbox`` answer and run a job of the type.

A ``JobKind`` has the job type's name as ``job``; ``validate`` checks a POST (raise the API's
error with ``api_error``/``refuse``, or return ``Accepted`` with the job's name) and ``run``
does the work in a worker thread (return an ``Outcome``; raise ``JobFailed`` to end the job
in ``error``). An export writes its file with ``write_rows`` and returns its path. Register
kinds through the ``sailjobs_sandbox_job_kinds`` hook; the built-in types' kinds use that
same hook (``runner/sandbox/builtinkinds.py``).

Share the type's rules with its ``JobType.check`` (one function both call), so that the
sandbox refuses exactly what ``sailjobs validate`` reports.
"""

from runner.sailthru.contract import ErrorRow
from runner.sandbox.errors import ApiError, api_error, refuse
from runner.sandbox.exportjobs import export_filename, write_rows
from runner.sandbox.jobs import (
    EXPORT_POOL,
    IMPORT_POOL,
    Accepted,
    JobEnv,
    JobFailed,
    JobKind,
    JobRecord,
    Outcome,
)
from runner.sandbox.wire import Upload

__all__ = [
    "EXPORT_POOL",
    "IMPORT_POOL",
    "Accepted",
    "ApiError",
    "ErrorRow",
    "JobEnv",
    "JobFailed",
    "JobKind",
    "JobRecord",
    "Outcome",
    "Upload",
    "api_error",
    "export_filename",
    "refuse",
    "write_rows",
]
