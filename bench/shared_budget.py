"""Four runners, one account: the API budget shared through PostgreSQL, beside per-process
budgets (SQLite state, one folder each) as the baseline.

One sandbox whose limits are scaled down (the API's 40 POST : 300 GET a minute, as 150 :
1125 in a 30 s window) and four `sailjobs run` processes, each with its own 150-job
manifest, started together with SAILTHRU_API_URL/KEY/SECRET. Printed for each backend:
the 429 answers the sandbox gave (target 0 with PostgreSQL), the POST budget used over the
busy period (every window but the last, where the work ran out; target >= 90 %), the
makespan against the ideal `total POSTs / POST limit` windows, and when each runner
finished (fair sharing: all four finish close together, near the end).

    .venv/bin/python bench/shared_budget.py            # about two minutes per backend
    .venv/bin/python bench/shared_budget.py --quick    # smaller figures, for a smoke test
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
SAILJOBS = str(Path(sys.executable).with_name("sailjobs"))
RUNNERS = 4


@dataclass(frozen=True)
class Scale:
    jobs: int  # per runner
    post: int  # POST limit per window
    get: int
    window: int  # seconds


FULL = Scale(jobs=150, post=150, get=1125, window=30)
QUICK = Scale(jobs=10, post=10, get=75, window=3)


def email_of(name: str) -> str:
    """A runner's jobs carry its name in their report_email: the sandbox tells them apart."""
    return f"{name}@bench.example.com"


def write_manifest(folder: Path, name: str, jobs: int) -> Path:
    lines = [
        "version: 1",
        f"name: {name}",
        "defaults:",
        "  poll: {initial: 0.2s, max: 2s}",
        "  retry: {attempts: 30, initial: 0.2s, max: 2s}",  # the baseline retries its 429s
        "jobs:",
    ]
    for index in range(jobs):
        lines += [
            f"  j{index:03d}:",
            "    job: export_scheduled_sends",
            f"    report_email: {email_of(name)}",
        ]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_four(scale: Scale, folder: Path, state_for: dict[str, str]) -> dict[str, object]:
    """The four runners against a fresh sandbox; what the sandbox counted and the times."""
    from runner.sandbox import Sandbox

    accepted: list[tuple[float, str]] = []  # (when, runner) of each job the sandbox took

    def job_time(payload: dict[str, object]) -> float:
        accepted.append((time.time(), str(payload.get("report_email", "")).partition("@")[0]))
        return 0.2

    sandbox = Sandbox(
        seed=None,
        job_time=job_time,
        rate_limits={"POST": scale.post, "GET": scale.get},
        rate_window=scale.window,
    ).start()
    env = {
        **os.environ,
        "SAILTHRU_API_URL": sandbox.url,
        "SAILTHRU_API_KEY": sandbox.api_key,
        "SAILTHRU_API_SECRET": sandbox.secret,
    }
    try:
        processes = {}
        started, started_at = time.monotonic(), time.time()
        for name, state in state_for.items():
            manifest = write_manifest(folder, name, scale.jobs)
            log = (folder / f"{name}.log").open("w")
            processes[name] = subprocess.Popen(
                [SAILJOBS, "run", str(manifest), "--state", state, "--concurrency", "40"],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finished: dict[str, float] = {}
        codes: dict[str, int] = {}
        while len(finished) < len(processes):
            for name, process in processes.items():
                if name not in finished and (code := process.poll()) is not None:
                    finished[name] = time.monotonic() - started
                    codes[name] = code
            time.sleep(0.05)
        limiter = sandbox.limiter
        posts = sorted(
            (start, count) for (method, start), count in limiter.served.items() if method == "POST"
        )
        return {
            "refused": sum(limiter.refused.values()),
            "posts": posts,
            "finished": finished,
            "codes": codes,
            "started_at": started_at,
            "submitted": len(sandbox.submissions()),
            "fairness": fairness(accepted, scale.window, list(state_for)),
        }
    finally:
        sandbox.stop()


def fairness(accepted: list[tuple[float, str]], window: int, names: list[str]) -> float:
    """Jain's index of the runners' shares of each window's POSTs, averaged over the
    windows where every runner still had jobs to send: 1.0 when each got a quarter."""
    last = {
        name: max((when for when, who in accepted if who == name), default=0.0) for name in names
    }
    busy_until = min(last.values()) // window  # a runner that is done asks for nothing
    per_window: dict[int, dict[str, int]] = {}
    for when, who in accepted:
        if when // window < busy_until:
            counts = per_window.setdefault(int(when // window), dict.fromkeys(names, 0))
            counts[who] += 1
    indexes = [
        sum(counts.values()) ** 2 / (len(names) * sum(c * c for c in counts.values()))
        for counts in per_window.values()
    ]
    return sum(indexes) / len(indexes) if indexes else 1.0


def report(label: str, scale: Scale, figures: dict[str, object]) -> None:
    posts: list[tuple[int, int]] = figures["posts"]  # type: ignore[assignment]
    finished: dict[str, float] = figures["finished"]  # type: ignore[assignment]
    total = sum(count for _, count in posts)
    # Every window from the first POST to the last counts, even one no POST went into.
    windows = (posts[-1][0] - posts[0][0]) // scale.window + 1 if posts else 0
    busy = windows - 1 if windows > 1 else windows  # the last window: the work ran out
    in_busy = total - posts[-1][1] if windows > 1 else total
    use = in_busy / (busy * scale.post) if busy else 0.0
    ideal = total / scale.post * scale.window
    makespan = max(finished.values())
    # The runners start inside a window: at best, the last of the ceil(total / limit)
    # windows the POSTs need opens ceil(total / limit) - 1 window ends after the start.
    started_at: float = figures["started_at"]  # type: ignore[assignment]
    first_end = (started_at // scale.window + 1) * scale.window
    needed = math.ceil(total / scale.post)
    best = first_end - started_at + (needed - 2) * scale.window if needed > 1 else makespan
    spread = makespan - min(finished.values())
    failed = [name for name, code in figures["codes"].items() if code != 0]  # type: ignore[attr-defined]
    print(f"   {label}")
    print(f"     429 answers received: {figures['refused']}")
    print(
        f"     POST budget used over the busy period: {use:.1%} of {scale.post}/window "
        f"({in_busy} POSTs in {busy} full windows; {total} in {windows} windows)"
    )
    print(
        f"     makespan {makespan:.1f} s vs ideal {ideal:.1f} s ({total} POSTs / "
        f"{scale.post} per {scale.window} s): ratio {makespan / ideal:.2f}; best possible "
        f"(the last window's opening, from where the start fell in its window) {best:.1f} s: ratio {makespan / best:.2f}"
    )
    print(
        "     runners finished at "
        + ", ".join(f"{finished[name]:.1f}" for name in sorted(finished))
        + f" s (spread {spread:.1f} s); share of each window's POSTs between runners: "
        f"Jain index {figures['fairness']:.3f} (1 = equal); {figures['submitted']} jobs submitted"
        + (f"; FAILED runs: {', '.join(failed)}" if failed else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller figures (smoke test)")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    from pgcluster import PostgresCluster

    print(
        f"{RUNNERS} runners x {scale.jobs} jobs, one sandbox: POST {scale.post} / GET "
        f"{scale.get} per {scale.window} s window"
    )
    with tempfile.TemporaryDirectory(prefix="sailjobs-bench-") as tmp, PostgresCluster() as pg:
        folder = Path(tmp)
        url = pg.create_database("bench")
        names = [f"runner{index}" for index in range(1, RUNNERS + 1)]
        (folder / "pg").mkdir()
        shared = run_four(scale, folder / "pg", {name: url for name in names})
        report("PostgreSQL state (one shared budget)", scale, shared)
        (folder / "sqlite").mkdir()
        apart = run_four(
            scale,
            folder / "sqlite",
            {name: str(folder / "sqlite" / f"st-{name}") for name in names},
        )
        report("SQLite state, one folder each (per-process budgets: the baseline)", scale, apart)


if __name__ == "__main__":
    main()
