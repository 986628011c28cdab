"""The sandbox behaviour of every job type sailjobs ships, registered through
``sailjobs_sandbox_job_kinds``: the path a plugin's kinds take. Loaded only when a sandbox
starts (``runner.plugins.SANDBOX_PLUGINS``)."""

from __future__ import annotations

from runner.hookspecs import hookimpl
from runner.sandbox.blasts import BlastQuery, BlastSaveList, BlastSnapshot
from runner.sandbox.contentjobs import ContentUpdate, DeleteContent, ListErase
from runner.sandbox.exportjobs import ExportListData, ExportPurchaseLog, ExportScheduledSends
from runner.sandbox.imports import ListImport, PurchaseImport
from runner.sandbox.jobs import JobKind
from runner.sandbox.profiles import BulkUpdate, Snapshot

BUILTIN_KINDS: tuple[type[JobKind], ...] = (
    ExportListData,
    ExportPurchaseLog,
    ExportScheduledSends,
    ListImport,
    PurchaseImport,
    ContentUpdate,
    DeleteContent,
    ListErase,
    BulkUpdate,
    Snapshot,
    BlastQuery,
    BlastSaveList,
    BlastSnapshot,
)


@hookimpl
def sailjobs_sandbox_job_kinds() -> list[JobKind]:
    return [kind() for kind in BUILTIN_KINDS]
