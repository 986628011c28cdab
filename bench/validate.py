"""Validate + plan a generated 2,000-job manifest; compare with parsing it with CSafeLoader.

    .venv/bin/python bench/validate.py [--jobs 2000] [--repeat 5]

Prints the best-of-N in-process time of ``load_manifest`` + ``build_plan`` (YAML with
positions, models, job-type checks, expressions, the graph), the same for
``yaml.load(..., Loader=yaml.CSafeLoader)`` alone, their ratio (target: at most 5x), and
the wall time of ``sailjobs validate --help`` as a whole process (pre-commit start-up).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGET_RATIO = 5.0


def generate(jobs: int) -> str:
    """A realistic manifest: every job type, expressions, needs and output references."""
    lines = [
        "version: 1",
        "name: bench",
        "vars:",
        "  main_list: Main Newsletter",
        "defaults:",
        "  report_email: crm-alerts@example.com",
        "  timeout: 3h",
        "  retry: {attempts: 5, initial: 2s, max: 2m}",
        "concurrency: 8",
        "jobs:",
    ]
    for index in range(jobs):
        kind = index % 4
        lines.append(f"  job-{index}:")
        if kind == 0:
            lines += [
                "    job: export_list_data",
                f"    list: ${{{{ vars.main_list }}}} {index}",
                "    hash_algo: sha256",
                "    fields: {opens: 1, clicks: 1, engagement: 1, vars: {userId: 1}}",
                "    on_success:",
                f'      - download: {{path: "exports/{index}-${{{{ run.date | yyyymmdd }}}}.csv"}}',
            ]
        elif kind == 1:
            lines += [
                "    job: export_purchase_log",
                "    start_date: ${{ run.date | days_ago(7) | yyyymmdd }}",
                "    end_date: ${{ run.date | yyyymmdd }}",
                "    timeout: 1h",
            ]
        elif kind == 2:
            lines += [
                "    job: import",
                f"    list: Engaged {index} ${{{{ jobs.job-{index - 2}.outputs.job_id }}}}",
                "    url: https://crm.example.com/engaged.csv",
                "    retry: {attempts: 3}",
            ]
        else:
            lines += [
                "    job: export_list_data",
                f"    list: VIP {index}",
                f"    needs: [job-{index - 1}, job-{index - 2}]",
            ]
    return "\n".join(lines) + "\n"


def best_of(repeat: int, function) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from runner.manifest.expressions import parse_template
    from runner.manifest.loader import load_manifest
    from runner.manifest.planner import build_plan
    from runner.plugins import action_types, job_types

    job_types(), action_types()  # plugin discovery is start-up, not validation
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(generate(args.jobs))
        size = path.stat().st_size

        def baseline() -> None:
            with path.open("rb") as stream:
                yaml.load(stream, Loader=yaml.CSafeLoader)

        def ours() -> None:
            parse_template.cache_clear()  # a validate process parses each expression afresh
            plan = build_plan(load_manifest(path))
            assert len(plan.jobs) == args.jobs

        ours()  # warm: imports and model schemas
        baseline_time = best_of(args.repeat, baseline)
        ours_time = best_of(args.repeat, ours)
    ratio = ours_time / baseline_time
    print(f"manifest: {args.jobs:,} jobs, {size / 1024:,.0f} KiB")
    print(f"yaml.CSafeLoader alone:       {baseline_time * 1000:8.1f} ms")
    print(f"load_manifest + build_plan:   {ours_time * 1000:8.1f} ms")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio: {ratio:.2f}x (target <= {TARGET_RATIO:.0f}x) {verdict}")

    sailjobs = Path(sys.executable).with_name("sailjobs")
    command = (
        [str(sailjobs)]
        if sailjobs.exists()
        else [sys.executable, "-c", "from runner.cli import main; main()"]
    )
    started = time.perf_counter()
    subprocess.run([*command, "validate", "--help"], check=True, capture_output=True)
    print(f"`sailjobs validate --help` wall time: {(time.perf_counter() - started) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
