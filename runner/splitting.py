"""Split as a capability of a job type: ``split: true`` runs one job as several API jobs.

A job type that can run over a range says how to cut it with a ``Splitter`` (its
``splitter`` class attribute). The executor asks the splitter for the parts, submits one API
job per part (each part's parameters laid over the job's), polls them together and joins
their CSV exports into one file; it never asks which job type it runs. The built-in
``export_purchase_log`` uses ``DateRangeSplitter`` for its 31-day limit; a plugin's type can
use it too, or subclass ``Splitter`` for another kind of range.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from runner.limits import MAX_DATE_RANGE_DAYS, parse_yyyymmdd, range_days, split_date_range

PartParams = dict[str, str]  # the parameters a part sets over the job's (its own range)


class Splitter(ABC):
    """How a job type cuts a job into parts. Parts must export CSVs with the same header:
    the executor joins them, in order, into one file (``export_path``)."""

    # For ``sailjobs plan``: "split if <rule>" before the range is known, and "split into N
    # <unit>" once it is.
    rule: str = ""
    unit: str = "parts"

    @abstractmethod
    def parts(self, params: Mapping[str, Any]) -> list[PartParams] | None:
        """The parts of a job with these parameters: None while the range is not known (a
        value still holding ``${{ }}``, or a bad one the type's checks report), ``[]`` when
        it fits in one API job, else two or more parts in order."""

    @abstractmethod
    def span(self, part: Mapping[str, Any]) -> str:
        """A part's range in a few characters, for messages (``20260101-20260131``)."""

    def joined_name(self, job_id: str, parts: list[Mapping[str, Any]]) -> str:
        """The file name of the joined export."""
        return f"{job_id}-{len(parts)}-parts.csv"

    def fits_in_one(self) -> str:
        """Why a job with a known, short range has no parts (planner hints)."""
        return f"its range fits in one API job ({self.unit})"


class DateRangeSplitter(Splitter):
    """A range of ``yyyymmdd`` dates in two parameters, both ends included, cut into
    consecutive parts of at most ``max_days`` days."""

    def __init__(
        self, start: str = "start_date", end: str = "end_date", max_days: int = MAX_DATE_RANGE_DAYS
    ) -> None:
        self.start, self.end, self.max_days = start, end, max_days
        self.rule = f"over {max_days} days"
        self.unit = f"exports of at most {max_days} days"

    def parts(self, params: Mapping[str, Any]) -> list[PartParams] | None:
        first, last = parse_yyyymmdd(params.get(self.start)), parse_yyyymmdd(params.get(self.end))
        if first is None or last is None or first > last:
            return None
        if range_days(first, last) <= self.max_days:
            return []
        return [
            {self.start: f"{part_start:%Y%m%d}", self.end: f"{part_end:%Y%m%d}"}
            for part_start, part_end in split_date_range(first, last, self.max_days)
        ]

    def span(self, part: Mapping[str, Any]) -> str:
        return f"{part[self.start]}-{part[self.end]}"

    def joined_name(self, job_id: str, parts: list[Mapping[str, Any]]) -> str:
        return f"{job_id}-{parts[0][self.start]}-{parts[-1][self.end]}.csv"

    def fits_in_one(self) -> str:
        return f"its range fits in one export of {self.max_days} days"
