"""The run state: what was submitted, what finished, which actions are done, behind one
interface (``RunState``) on two backends: SQLite in a folder (the embedded default) and
PostgreSQL (shared by runners on many machines). ``StateLocation`` opens either.
"""

from runner.executor.state.errors import (
    LockTimeoutError,
    StateError,
    StateFullError,
    StateLostError,
    StateUnavailableError,
    StateWriteError,
)
from runner.executor.state.location import DEFAULT_STATE_DIR, STATE_ENV, StateLocation
from runner.executor.state.migrations import SCHEMA_VERSION
from runner.executor.state.records import (
    RUN_KEY_SEPARATOR,
    SANDBOX_KEY_SUFFIX,
    TARGET_SEPARATOR,
    ActionRecord,
    JobRecord,
    RunRecord,
    check_run_key,
    is_run_of,
    legacy_manifest_key,
    manifest_key,
    new_run_id,
    run_key,
    to_datetime,
)
from runner.executor.state.sqlite import (
    DB_NAME,
    ManifestLock,
    SQLiteState,
    check_not_lost,
    disk_full_message,
)
from runner.executor.state.store import RunState

__all__ = [
    "DB_NAME",
    "DEFAULT_STATE_DIR",
    "RUN_KEY_SEPARATOR",
    "SANDBOX_KEY_SUFFIX",
    "SCHEMA_VERSION",
    "STATE_ENV",
    "TARGET_SEPARATOR",
    "ActionRecord",
    "JobRecord",
    "LockTimeoutError",
    "ManifestLock",
    "RunRecord",
    "RunState",
    "SQLiteState",
    "StateError",
    "StateFullError",
    "StateLocation",
    "StateLostError",
    "StateUnavailableError",
    "StateWriteError",
    "check_not_lost",
    "check_run_key",
    "disk_full_message",
    "is_run_of",
    "legacy_manifest_key",
    "manifest_key",
    "new_run_id",
    "run_key",
    "to_datetime",
]
