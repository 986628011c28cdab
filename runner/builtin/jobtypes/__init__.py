"""Every job type sailjobs ships, registered through ``sailjobs_job_types``: exactly the
path a plugin's job type takes (a ``JobType`` from ``runner.jobtypes``, returned by the
hook). Their sandbox behaviour is registered the same way, by ``runner/sandbox/builtinkinds.py``
(``sailjobs_sandbox_job_kinds``).
"""

from __future__ import annotations

from runner.builtin.jobtypes.blasts import BlastQuery, BlastSaveList, BlastSnapshot
from runner.builtin.jobtypes.content import ContentUpdate, DeleteContent, ListErase
from runner.builtin.jobtypes.profiles import Snapshot, Update
from runner.builtin.jobtypes.seed import (
    ExportListData,
    ExportPurchaseLog,
    ExportScheduledSends,
    Import,
    PurchaseImport,
)
from runner.hookspecs import hookimpl
from runner.jobtypes import JobType

__all__ = [
    "BUILTIN_JOB_TYPES",
    "BlastQuery",
    "BlastSaveList",
    "BlastSnapshot",
    "ContentUpdate",
    "DeleteContent",
    "ExportListData",
    "ExportPurchaseLog",
    "ExportScheduledSends",
    "Import",
    "ListErase",
    "PurchaseImport",
    "Snapshot",
    "Update",
]

BUILTIN_JOB_TYPES: tuple[type[JobType], ...] = (
    ExportListData,
    ExportPurchaseLog,
    ExportScheduledSends,
    Import,
    PurchaseImport,
    ContentUpdate,
    DeleteContent,
    ListErase,
    Update,
    Snapshot,
    BlastQuery,
    BlastSaveList,
    BlastSnapshot,
)


@hookimpl
def sailjobs_job_types() -> list[JobType]:
    return [job_type() for job_type in BUILTIN_JOB_TYPES]
