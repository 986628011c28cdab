"""Four runners, one account: the API budget shared through PostgreSQL, beside per-process
budgets (SQLite state, one folder each) as the baseline.

One sandbox whose limits are scaled down (the API's 40 POST : 300 GET a minute, as 150 :
1125 in a 30 s window) and four `sailjobs run` processes, each with its own 150-job
manifest, started together with SAILTHRU_API_URL/KEY/SECRET. Printed for each backend:
the 429 answers the sandbox gave (target 0 with PostgreSQL), the POST budget used over the
busy period (every window but the last, where the work ran out; target >= 90 %), the
makespan against the ideal `total POSTs / POST limit` windows, when each runner finished,
and each runner's POSTs in each window where all four were busy (fair sharing: equal
shares, all four finishing close together near the end). GETs are not told apart by
runner (a status check names a job, not its runner), so their shares are not printed.

    .venv/bin/python bench/shared_budget.py            # about two minutes per backend
    .venv/bin/python bench/shared_budget.py --quick    # smaller figures, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.sandbox import Sandbox

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


def accepted_posts(sandbox: Sandbox) -> list[tuple[float, str]]:
    """(create time, runner) of each job the sandbox took, read from its own jobs table:
    one row per accepted POST (a ``job_time`` callback fires again when the job starts)."""
    path = sandbox.data_dir / "sandbox.sqlite3" if sandbox.data_dir else None
    if path is None or not path.exists():
        return []
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT create_time, payload FROM jobs ORDER BY create_time").fetchall()
    return [
        (float(when), str(json.loads(payload).get("report_email", "")).partition("@")[0])
        for when, payload in rows
    ]


def run_four(scale: Scale, folder: Path, state_for: dict[str, str]) -> dict[str, object]:
    """The four runners against a fresh sandbox; what the sandbox counted and the times."""
    from runner.sandbox import Sandbox

    sandbox = Sandbox(
        seed=None,
        job_time=0.2,
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
        accepted = accepted_posts(sandbox)
        names = list(state_for)
        return {
            "refused": sum(limiter.refused.values()),
            "posts": posts,
            "finished": finished,
            "codes": codes,
            "started_at": started_at,
            "submitted": len(sandbox.submissions()),
            "shares": window_shares(accepted, scale.window, names, busy_only=False),
            "busy_shares": window_shares(accepted, scale.window, names),
        }
    finally:
        sandbox.stop()


def window_shares(
    accepted: list[tuple[float, str]], window: int, names: list[str], *, busy_only: bool = True
) -> list[dict[str, int]]:
    """Each runner's count of the POSTs accepted in each window, oldest first; with
    ``busy_only``, only the windows where every runner still had jobs to send (a runner
    that is done asks for nothing)."""
    last = {
        name: max((when for when, who in accepted if who == name), default=0.0) for name in names
    }
    busy_until = min(last.values()) // window if last and busy_only else math.inf
    per_window: dict[int, dict[str, int]] = {}
    for when, who in accepted:
        if when // window < busy_until and who in names:
            counts = per_window.setdefault(int(when // window), dict.fromkeys(names, 0))
            counts[who] += 1
    return [per_window[start] for start in sorted(per_window)]


def fairness(shares: list[dict[str, int]]) -> float | None:
    """Jain's index of the runners' shares of each window's POSTs, averaged over the
    windows: 1.0 when each got an equal share; None when no window had every runner busy."""
    indexes = [
        sum(counts.values()) ** 2 / (len(counts) * sum(c * c for c in counts.values()))
        for counts in shares
        if sum(counts.values())
    ]
    return sum(indexes) / len(indexes) if indexes else None


def report(label: str, scale: Scale, figures: dict[str, object]) -> None:
    posts: list[tuple[int, int]] = figures["posts"]  # type: ignore[assignment]
    finished: dict[str, float] = figures["finished"]  # type: ignore[assignment]
    shares: list[dict[str, int]] = figures["shares"]  # type: ignore[assignment]
    busy_shares: list[dict[str, int]] = figures["busy_shares"]  # type: ignore[assignment]
    failed = [name for name, code in figures["codes"].items() if code != 0]  # type: ignore[attr-defined]
    total = sum(count for _, count in posts)
    print(f"   {label}")
    print(f"     429 answers received: {figures['refused']}")
    if total == 0:
        print(
            "     no POST got through: FAILED runs: "
            + (", ".join(failed) if failed else "none failed, yet nothing was submitted")
        )
        return
    # Every window from the first POST to the last counts, even one no POST went into.
    windows = (posts[-1][0] - posts[0][0]) // scale.window + 1
    busy = windows - 1 if windows > 1 else windows  # the last window: the work ran out
    in_busy = total - posts[-1][1] if windows > 1 else total
    use = in_busy / (busy * scale.post)
    ideal = total / scale.post * scale.window
    makespan = max(finished.values())
    # The runners start inside a window: at best, the last of the ceil(total / limit)
    # windows the POSTs need opens ceil(total / limit) - 1 window ends after the start.
    started_at: float = figures["started_at"]  # type: ignore[assignment]
    first_end = (started_at // scale.window + 1) * scale.window
    needed = math.ceil(total / scale.post)
    best = first_end - started_at + (needed - 2) * scale.window if needed > 1 else makespan
    spread = makespan - min(finished.values())
    index = fairness(busy_shares)
    print(
        f"     POST budget used over the busy period: {use:.1%} of {scale.post}/window "
        f"({in_busy} POSTs in {busy} full windows; {total} in {windows} windows)"
    )
    print(
        f"     makespan {makespan:.1f} s vs ideal {ideal:.1f} s ({total} POSTs / "
        f"{scale.post} per {scale.window} s): ratio {makespan / ideal:.2f}; best possible "
        f"(the last window's opening, from where the start fell in its window) {best:.1f} s: "
        f"ratio {makespan / best:.2f}"
    )
    print(
        "     runners finished at "
        + ", ".join(f"{finished[name]:.1f}" for name in sorted(finished))
        + f" s (spread {spread:.1f} s); {figures['submitted']} jobs submitted"
        + (f"; FAILED runs: {', '.join(failed)}" if failed else "")
    )
    names = sorted(finished)
    print(
        f"     POSTs per runner ({'/'.join(names)}) in each window: "
        + (", ".join("/".join(str(counts[name]) for name in names) for counts in shares) or "none")
    )
    print(
        f"     share of the POSTs in the {len(busy_shares)} windows where all were busy: "
        + ("n/a" if index is None else f"Jain index {index:.3f} (1 = equal)")
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
