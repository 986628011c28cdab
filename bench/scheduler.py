"""The scheduler's performance against the sandbox, each figure beside its baseline.

1. A random DAG of 200 jobs with known durations: makespan over the critical path
   (target <= 1.15; the critical path is the baseline no scheduler can beat).
2. Status calls per job for 10 s, 100 s and 1,000 s jobs (a fast clock: each job lasts 10
   real seconds in the sandbox and the runner's clock runs duration/10 times faster),
   ours beside a fixed 1 s poller run at the same time; and how late a finished job is
   noticed (target: within 10 % of its duration + 1 s).
3. 1,000 jobs in flight at once: the runner's peak RSS in a child process (target <= 200
   MiB), beside the RSS of the same child importing the same modules and doing nothing.

    .venv/bin/python bench/scheduler.py            # everything (about a minute)
    .venv/bin/python bench/scheduler.py --quick    # smaller figures, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
BENCH_DOMAIN = "bench.example.com"


def duration_email(seconds: float) -> str:
    """A job's duration, carried in its report_email so the sandbox's job_time can read it."""
    return f"d{round(seconds * 1000)}@{BENCH_DOMAIN}"


def job_time_from_payload(factor: float = 1.0, default: float = 0.5) -> Any:
    def job_time(payload: dict[str, Any]) -> float:
        email = str(payload.get("report_email") or "")
        if email.startswith("d") and email.endswith("@" + BENCH_DOMAIN):
            return int(email[1 : email.index("@")]) / 1000 / factor
        return default

    return job_time


def start_sandbox(job_time: Any) -> Any:
    from runner.sandbox import Sandbox

    # Limits far above the API's: the bench measures the scheduler, not the rate limiter.
    limits = {"POST": 1_000_000, "GET": 1_000_000}
    return Sandbox(seed=None, job_time=job_time, rate_limits=limits).start()


def write_manifest(folder: Path, name: str, jobs: dict[str, dict[str, Any]], poll: str) -> Path:
    lines = [
        "version: 1",
        f"name: {name}",
        "defaults:",
        "  timeout: 3h",
        f"  poll: {poll}",
        "  retry: {attempts: 5, initial: 0.1s, max: 1s}",
        "jobs:",
    ]
    for job_id, spec in jobs.items():
        lines.append(f"  {job_id}:")
        lines.append("    job: export_scheduled_sends")
        lines.append(f"    report_email: {spec['email']}")
        if spec.get("needs"):
            lines.append(f"    needs: [{', '.join(spec['needs'])}]")
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def client_for(sandbox: Any) -> Any:
    from runner.sailthru.client import SailthruClient
    from runner.sailthru.ratelimit import RateLimitBudget

    return SailthruClient(sandbox.api_key, sandbox.secret, sandbox.url, budget=RateLimitBudget())


# -- 1. makespan over critical path ---------------------------------------------------------


def random_dag(count: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    ids: list[str] = []
    for index in range(count):
        job_id = f"j{index:03d}"
        window = ids[-12:]
        needs = rng.sample(window, k=min(len(window), rng.choice((0, 1, 1, 2, 3))))
        seconds = round(rng.uniform(0.3, 2.0), 3)
        jobs[job_id] = {
            "needs": sorted(needs),
            "seconds": seconds,
            "email": duration_email(seconds),
        }
        ids.append(job_id)
    return jobs


def critical_path(jobs: dict[str, dict[str, Any]]) -> float:
    finish: dict[str, float] = {}
    for job_id, spec in jobs.items():  # ids are in topological order
        start = max((finish[need] for need in spec["needs"]), default=0.0)
        finish[job_id] = start + spec["seconds"]
    return max(finish.values())


def bench_makespan(count: int, folder: Path) -> dict[str, float]:
    from runner.executor.lifecycle import run

    jobs = random_dag(count, random.Random(5))
    path = write_manifest(folder, "dag", jobs, "{initial: 0.05s, max: 5s}")
    sandbox = start_sandbox(job_time_from_payload())
    try:
        with client_for(sandbox) as client:
            result = run(path, client=client, state=folder / "state-dag", concurrency=count)
    finally:
        sandbox.stop()
    assert result.succeeded, [job.error for job in result.failed_jobs]
    first = min(job.submitted_at for job in result.jobs.values() if job.submitted_at)
    last = max(job.finished_at for job in result.jobs.values() if job.finished_at)
    makespan = (last - first).total_seconds()
    path_seconds = critical_path(jobs)
    return {"jobs": count, "makespan": makespan, "critical_path": path_seconds}


# -- 2. status calls per job ------------------------------------------------------------


def bench_polls(
    durations: list[float], per_duration: int, real_seconds: float, folder: Path
) -> list[dict[str, float]]:
    """Each duration runs in ``real_seconds`` of real time (its clock is sped up to fit),
    ours and a fixed 1 s poller side by side, all at once against one sandbox."""
    from runner.executor.lifecycle import run
    from runner.executor.polling import ScaledClock

    sandbox = start_sandbox(job_time_from_payload())  # payloads carry the real seconds
    results: dict[tuple[str, float], Any] = {}
    runs = []
    for seconds in durations:
        factor = seconds / real_seconds
        for name, poll in (("ours", "{initial: 1s, max: 1h}"), ("fixed", "{initial: 1s, max: 1s}")):
            jobs = {
                f"{name}-{i}": {"seconds": seconds, "email": duration_email(real_seconds)}
                for i in range(per_duration)
            }
            path = write_manifest(folder, f"{name}-{int(seconds)}", jobs, poll)
            runs.append((name, seconds, factor, path))

    try:
        with client_for(sandbox) as client:

            def go(name: str, seconds: float, factor: float, path: Path) -> None:
                results[name, seconds] = run(
                    path, client=client, state=folder / f"state-{path.stem}",
                    clock=ScaledClock(factor), concurrency=100,
                )  # fmt: skip

            threads = [threading.Thread(target=go, args=spec) for spec in runs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sandbox.stop()
    rows = []
    for seconds in durations:
        factor = seconds / real_seconds
        ours = list(results["ours", seconds].jobs.values())
        fixed = list(results["fixed", seconds].jobs.values())
        assert all(j.status == "succeeded" for j in ours + fixed), [j.error for j in ours + fixed]
        lags = [j.duration_seconds * factor - seconds for j in ours]
        rows.append(
            {
                "duration": seconds,
                "factor": factor,
                "ours_polls": statistics.mean(j.polls for j in ours),
                "fixed_polls": statistics.mean(j.polls for j in fixed),
                "lag_max": max(lags),
                "lag_target": 0.1 * seconds + 1.0,
            }
        )
    return rows


# -- 3. a thousand jobs in flight -------------------------------------------------------------


INFLIGHT_CHILD = """
import json, sys, threading
from pathlib import Path
from runner.hookspecs import hookimpl
from runner.plugins import get_plugin_manager
from runner.sailthru.client import SailthruClient
from runner.sailthru.ratelimit import RateLimitBudget
from runner.executor.lifecycle import run

def peak_rss_kib():
    # VmHWM, not getrusage: ru_maxrss carries the parent's peak across fork+exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

mode, url, key, secret, manifest, state = sys.argv[1:7]
client = SailthruClient(key, secret, url, budget=RateLimitBudget())
if mode == "idle":
    import runner.executor.scheduler, runner.manifest.loader, runner.manifest.planner, runner.builtin.download  # noqa
    print(json.dumps({"peak_rss_kib": peak_rss_kib()}))
    sys.exit(0)

class Count:
    def __init__(self):
        self.now = self.peak = 0
        self.lock = threading.Lock()
    @hookimpl
    def sailjobs_job_submitted(self, event):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
    @hookimpl
    def sailjobs_job_finished(self, result):
        with self.lock:
            self.now -= 1

count = Count()
get_plugin_manager().register(count, name="bench-count")
result = run(Path(manifest), client=client, state=Path(state), concurrency=100000)
print(json.dumps({
    "peak_rss_kib": peak_rss_kib(),
    "peak_in_flight": count.peak,
    "succeeded": sum(1 for j in result.jobs.values() if j.status == "succeeded"),
    "polls": sum(j.polls for j in result.jobs.values()),
}))
"""


def bench_inflight(count: int, seconds: float, folder: Path) -> dict[str, Any]:
    jobs = {
        f"f{i:04d}": {"seconds": seconds, "email": duration_email(seconds)} for i in range(count)
    }
    path = write_manifest(folder, "inflight", jobs, "{initial: 4s, max: 8s}")
    sandbox = start_sandbox(job_time_from_payload())
    figures: dict[str, Any] = {}
    try:
        for mode in ("idle", "run"):
            argv = [
                sys.executable, "-c", INFLIGHT_CHILD, mode, sandbox.url, sandbox.api_key,
                sandbox.secret, str(path), str(folder / "state-inflight"),
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                sys.exit(f"in-flight child ({mode}) failed:\n{done.stderr[-3000:]}")
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            figures[mode]["wall"] = time.perf_counter() - started
    finally:
        sandbox.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures (smoke test)")
    args = parser.parse_args()
    dag_jobs, inflight, inflight_seconds = (60, 200, 6.0) if args.quick else (200, 1000, 20.0)
    durations = [10.0, 100.0] if args.quick else [10.0, 100.0, 1000.0]
    real = 4.0 if args.quick else 10.0  # real seconds each polling job lasts
    with tempfile.TemporaryDirectory(prefix="sailjobs-bench-") as tmp:
        folder = Path(tmp)

        print(f"1. random DAG of {dag_jobs} jobs (durations 0.3-2 s, up to 3 needs each)")
        dag = bench_makespan(dag_jobs, folder)
        ratio = dag["makespan"] / dag["critical_path"]
        print(f"   critical path {dag['critical_path']:.2f} s (baseline), makespan "
              f"{dag['makespan']:.2f} s: ratio {ratio:.3f} (target <= 1.15) "
              f"{'OK' if ratio <= 1.15 else 'MISSED'}")  # fmt: skip

        print(f"2. status calls per job (each duration on a clock sped up to last {real:g} s)")
        print("   duration  clock   ours  fixed-1s  ratio   noticed late (max)  target")
        for row in bench_polls(durations, 3, real, folder):
            ok = row["lag_max"] <= row["lag_target"]
            print(
                f"   {row['duration']:>7.0f}s {row['factor']:>5.0f}x {row['ours_polls']:>6.1f}"
                f" {row['fixed_polls']:>9.1f} "
                f"{row['fixed_polls'] / row['ours_polls']:>6.1f}x {row['lag_max']:>12.2f} s"
                f"       <= {row['lag_target']:.1f} s {'OK' if ok else 'MISSED'}"
            )

        print(f"3. {inflight} jobs in flight at once ({inflight_seconds:g} s each)")
        figures = bench_inflight(inflight, inflight_seconds, folder)
        idle = figures["idle"]["peak_rss_kib"] / 1024
        ours = figures["run"]["peak_rss_kib"] / 1024
        print(f"   idle runner (same imports) {idle:.1f} MiB; with {figures['run']['peak_in_flight']}"
              f" in flight {ours:.1f} MiB (target <= 200 MiB) "
              f"{'OK' if ours <= 200 else 'MISSED'}; +{(ours - idle) * 1024 / inflight:.0f} KiB/job;"
              f" {figures['run']['succeeded']} succeeded, {figures['run']['polls']} polls, "
              f"{figures['run']['wall']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
