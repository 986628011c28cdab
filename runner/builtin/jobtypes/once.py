"""The contract's problems of a job type whose params model checks the same values' types:
a value of the wrong type (``query: Main Newsletter``, text where a mapping goes) is reported
once, by the model, not a second time by the contract at the same position."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from runner.jobtypes import JobType, ParamProblem, contract_problems


def contract_problems_once(job_type: JobType, params: dict[str, Any]) -> Iterator[ParamProblem]:
    """``contract_problems`` without those at a parameter the params model rejects."""
    try:
        job_type.params_model.model_validate(params)
        rejected: set[tuple[str | int, ...]] = set()
    except ValidationError as error:
        rejected = {(detail["loc"][0],) for detail in error.errors() if detail["loc"]}
    for problem in contract_problems(job_type.name, params):
        if problem.path not in rejected:
            yield problem
