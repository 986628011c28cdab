"""The state's schema, as numbered steps that sailjobs applies itself (``sailjobs state
migrate`` applies them on request). One text per step serves both backends: ``{real}`` is
a float column (PostgreSQL's ``REAL`` is 4 bytes, too coarse for epoch seconds) and
``{rowid}`` the insertion-order column SQLite has built in.

The version is ``meta.schema``: a state written by a newer sailjobs is refused, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str  # statements separated by ";" (so none in the comments)

    def statements(self, dialect: Dialect) -> list[str]:
        text = self.sql.format(
            real="REAL" if dialect == "sqlite" else "DOUBLE PRECISION",
            rowid="" if dialect == "sqlite" else "rowid BIGSERIAL,",
        )
        return [part.strip() for part in text.split(";") if part.strip()]


_RUNS_JOBS_ACTIONS = """
CREATE TABLE IF NOT EXISTS runs (
    {rowid}
    run_id TEXT PRIMARY KEY,
    manifest_key TEXT NOT NULL,
    manifest_path TEXT NOT NULL,
    manifest_name TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    started_at {real} NOT NULL,
    finished_at {real},
    status TEXT NOT NULL,          -- running | interrupted | finished
    succeeded INTEGER,
    inputs TEXT                    -- the run's --target, --date and --var overrides (JSON)
);
CREATE INDEX IF NOT EXISTS runs_by_manifest ON runs (manifest_key, started_at);
CREATE TABLE IF NOT EXISTS jobs (
    {rowid}
    run_id TEXT NOT NULL,
    job TEXT NOT NULL,             -- the manifest's job id
    job_type TEXT NOT NULL,
    status TEXT NOT NULL,          -- a runner.results.JobStatus value
    remote_job_id TEXT,
    remote_status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{{}}',   -- as submitted, masked
    intent_at {real},
    submitted_at {real},
    finished_at {real},
    outputs TEXT NOT NULL DEFAULT '{{}}',  -- the job's fields (plus action outputs once done)
    error TEXT,
    outcome TEXT,                  -- the job's fate once decided, before its actions ran
    PRIMARY KEY (run_id, job)
);
CREATE TABLE IF NOT EXISTS reopenings (  -- `run --retry-failed` continued the run
    run_id TEXT NOT NULL,
    at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL,
    owner TEXT NOT NULL,           -- the job id, or '' for the manifest's notify actions
    phase TEXT NOT NULL,           -- on_success | on_failure | always
    idx INTEGER NOT NULL,
    name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    outputs TEXT NOT NULL DEFAULT '{{}}',
    error TEXT,
    finished_at {real} NOT NULL,
    started_at {real},
    PRIMARY KEY (run_id, owner, phase, idx)
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, jobs, actions and --retry-failed reopenings", _RUNS_JOBS_ACTIONS),
    Migration(
        2,
        "the host and process of each run; the holders of run locks; the shared API budget",
        """
        ALTER TABLE runs ADD COLUMN host TEXT;
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN run_key TEXT;
        CREATE TABLE IF NOT EXISTS lock_holders (  -- who holds a manifest's lock, for messages
            manifest_key TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            since {real} NOT NULL,
            manifest_path TEXT NOT NULL,
            token TEXT NOT NULL DEFAULT ''   -- this holding's mark: intents are fenced by it
        );
        CREATE TABLE IF NOT EXISTS api_budget (  -- one token bucket per account and endpoint
            account TEXT NOT NULL,         -- a hash of the API URL and key, never the key
            endpoint TEXT NOT NULL,
            method TEXT NOT NULL,
            lim INTEGER,                   -- X-Rate-Limit-Limit of the window
            remaining INTEGER,             -- tokens left in the window
            reset {real},                  -- the window's end (X-Rate-Limit-Reset)
            probe_until {real},            -- a new window's first request is on its way
            probe_token TEXT,              -- which caller holds that lease
            probes INTEGER NOT NULL DEFAULT 0,  -- probes sent since the window ended
            PRIMARY KEY (account, endpoint, method)
        )
        """,
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version

# Columns that sailjobs 0.1 added to a schema-1 SQLite state without a new version: a
# state of that time may lack them, and gains them before its step 2.
LEGACY_COLUMNS = (("actions", "started_at", "REAL"), ("runs", "inputs", "TEXT"))


def pending(current: int) -> list[Migration]:
    """The steps a state at version ``current`` still needs, in order."""
    return [step for step in MIGRATIONS if step.version > current]
