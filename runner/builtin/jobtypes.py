"""Registers the five job types of the job API page (runner/jobtypes.py) through the hook."""

from __future__ import annotations

from runner.hookspecs import hookimpl
from runner.jobtypes import JobType


@hookimpl
def sailjobs_job_types() -> list[JobType]:
    from runner.jobtypes import BUILTIN_JOB_TYPES

    return [job_type() for job_type in BUILTIN_JOB_TYPES]
