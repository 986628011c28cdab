"""The sandbox's ``acme_member_export``: what `sailjobs sandbox`, `run --sandbox` and the
``run_on_sandbox`` fixture answer and do for it.

It follows the job's spec: the POST is refused for a bad ``columns`` or without a file;
the job reads the file, ends in error at a bad line (as pre-flight would have reported),
and exports one row per member with a profile. Assumed where the spec is silent: a member
without a profile is left out of the export, and counted in ``members`` but not ``matched``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acme_members import COLUMNS, DEFAULT_COLUMNS, MembersFile, column_problems

from runner.sandbox.kinds import (
    Accepted,
    ApiError,
    ErrorRow,
    JobEnv,
    JobFailed,
    JobKind,
    JobRecord,
    Outcome,
    Upload,
    api_error,
    write_rows,
)

MISSING_FILE = ErrorRow(400, 2, "Missing required parameter: file")


class MemberExportKind(JobKind):
    job = "acme_member_export"

    def validate(self, payload: dict[str, Any], upload: Upload | None, env: JobEnv) -> Accepted:
        for message in column_problems(payload):
            raise ApiError(400, 99, message)
        if upload is None:
            raise api_error(MISSING_FILE)
        return Accepted(f"ACME Member Export: {upload.filename}")

    def run(self, record: JobRecord, env: JobEnv) -> Outcome:
        members = read_members(Path(record.upload_path or ""))
        # Only known names: validate refused any other, so they are safe in the SQL.
        columns = record.payload.get("columns") or DEFAULT_COLUMNS
        rows = []
        with env.store.connect() as db:
            for member_id, email in members:
                found = db.execute(
                    f"SELECT profile_id, md5, {', '.join(columns)} FROM users WHERE email = ?",
                    (email,),
                ).fetchone()
                if found is not None:
                    rows.append((member_id, *found))
        header = ["Member Id", "Profile Id", "Email Hash", *(COLUMNS[c] for c in columns)]
        fields = {"members": len(members), "matched": len(rows), "filename": "members.csv"}
        return Outcome(fields, len(rows), write_rows(env, header, rows))


def read_members(path: Path) -> list[tuple[str, str]]:
    """``(member_id, email)`` of each line; a line the file check refuses fails the job."""
    check = MembersFile()
    members = []
    with path.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                raise JobFailed(f"line {number}: not valid JSON") from None
            if not isinstance(value, dict):
                raise JobFailed(f"line {number}: not a JSON object")
            for problem in check.check_object(value):
                if problem.severity == "error":
                    raise JobFailed(f"line {number}: {problem.path}: {problem.message}")
            members.append((value["member_id"], value["email"].strip().lower()))
    return members
