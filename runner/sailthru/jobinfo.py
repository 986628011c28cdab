"""What the API says about a job: ``JobInfo``, the typed result of submitting and polling.

Real answers vary (reference/sailthru-api.md §3): the seed's own GET example has
``"job_id": null`` and ``stop_time`` where ``end_time`` is documented, answers carry fields
the runner does not know, and optional fields may be missing. ``from_fields`` accepts all of
that: a missing or null value is ``None`` (never the text ``"None"``), ``stop_time`` stands in
for ``end_time`` (``end_time`` wins when both are there), and ``fields`` keeps everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runner.jsontypes import JSONDict, JSONValue
from runner.masking import mask, register_url

SUCCESS_STATUSES = frozenset({"completed"})
FAILURE_STATUSES = frozenset({"error", "incomplete"})


def _text(value: JSONValue) -> str | None:
    """A field as text; a missing, null or empty one is None."""
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _truthy(value: JSONValue) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


@dataclass(frozen=True, repr=False)
class JobInfo:
    """A job as the API described it; ``fields`` holds everything the API returned."""

    job_id: str
    name: str | None
    status: str | None
    start_time: str | None
    end_time: str | None
    export_url: str | None
    filename: str | None
    expired: bool
    fields: JSONDict = field(default_factory=dict)

    @classmethod
    def from_fields(cls, fields: Mapping[str, JSONValue]) -> JobInfo:
        """A JobInfo of an answer's fields; never raises on a missing or unexpected field."""
        export_url = _text(fields.get("export_url"))
        if export_url:
            register_url(export_url)
        return cls(
            job_id=_text(fields.get("job_id")) or "",
            name=_text(fields.get("name")),
            status=_text(fields.get("status")),
            start_time=_text(fields.get("start_time")),
            # The seed's list_erase example says ``stop_time``; the GET table says end_time.
            end_time=_text(fields.get("end_time")) or _text(fields.get("stop_time")),
            export_url=export_url,
            filename=_text(fields.get("filename")),
            expired=_truthy(fields.get("expired", False)),
            fields=dict(fields),
        )

    @property
    def succeeded(self) -> bool:
        """The API reported ``completed``."""
        return (self.status or "").lower() in SUCCESS_STATUSES

    @property
    def failed(self) -> bool:
        """The API reported ``error`` or ``incomplete``."""
        return (self.status or "").lower() in FAILURE_STATUSES

    @property
    def finished(self) -> bool:
        """Succeeded or failed; any other status means the job is still running."""
        return self.succeeded or self.failed

    @property
    def error_message(self) -> str | None:
        """Why the job failed, when the API said (``error_message`` or ``errormsg``)."""
        message = self.fields.get("error_message") or self.fields.get("errormsg")
        return None if message is None else mask(str(message))

    def __repr__(self) -> str:
        return mask(
            f"JobInfo(job_id={self.job_id!r}, name={self.name!r}, status={self.status!r}, "
            f"start_time={self.start_time!r}, end_time={self.end_time!r}, "
            f"export_url={self.export_url!r}, filename={self.filename!r}, "
            f"expired={self.expired!r})"
        )
