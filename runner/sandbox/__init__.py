"""A Sailthru-compatible job API server: HTTP, SQLite data, job workers, faults on demand.

from runner.sandbox import Sandbox, Faults
with Sandbox(seed="demo", job_time=0.2) as sb:
    ...  # sb.url, sb.api_key, sb.secret, sb.faults, sb.submissions(), sb.request_log
"""

from runner.sandbox.faults import Faults
from runner.sandbox.server import Sandbox

__all__ = ["Faults", "Sandbox"]
