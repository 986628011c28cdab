"""``sailjobs validate`` on hostile manifests of ~10 MB: wall time and peak RSS of each.

    .venv/bin/python bench/hostile_yaml.py [--mb 10] [--timeout 120] [--only NAME ...]

Each shape is generated in a temporary folder and validated by a child process (the
command a pre-commit hook or CI runs); its peak RSS comes from wait4. Target: every shape
within a few seconds and a few hundred MiB, valid or not (a clear problem is a pass).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1024 * 1024
HEADER = "version: 1\nname: hostile\n"
IMPORT_JOB = "  a:\n    job: import\n    list: Main\n    emails: a@example.com\n"


def alias_bomb(size: int) -> str:
    """One big anchored scalar (size - 300 KB), aliased 100,000 times (the issue's case)."""
    anchor = "x" * (size - 300_000)
    aliases = ", ".join(["*big"] * 100_000)
    return f"{HEADER}vars:\n  big: &big {anchor}\n  many: [{aliases}]\njobs:\n{IMPORT_JOB}"


def alias_bomb_expression(size: int) -> str:
    """The same with a `${{ }}` in the anchor, so every alias holds an expression."""
    anchor = "${{ run.date }}" + "x" * (size - 300_000)
    aliases = ", ".join(["*big"] * 100_000)
    return (
        f"{HEADER}jobs:\n  a:\n    job: import\n    list: &big {anchor}\n"
        f"    emails: a@example.com\n    extra: [{aliases}]\n"
    )


def one_string(size: int) -> str:
    return f"{HEADER}description: {'y' * size}\njobs:\n{IMPORT_JOB}"


_JOB = (
    "  job-{i}:\n    job: export_list_data\n    list: List {i}\n"
    "    on_success:\n      - download: {{path: 'exports/{i}.csv'}}\n"
)  # 13 values


def many_jobs(size: int) -> str:
    count = size // len(_JOB.format(i=100000))
    return HEADER + "jobs:\n" + "".join(_JOB.format(i=i) for i in range(count))


def long_list(size: int) -> str:
    count = size // len("      - a123456@example.com\n")
    items = "".join(f"      - a{i}@example.com\n" for i in range(count))
    return f"{HEADER}jobs:\n  a:\n    job: import\n    list: Main\n    emails:\n{items}"


def many_expressions(size: int) -> str:
    """A list of expressions, each different (no cache helps)."""
    item = "    - ${{{{ run.date | days_ago({i}) | yyyymmdd }}}}\n"
    count = size // len(item.format(i=100000))
    items = "".join(item.format(i=i) for i in range(count))
    return f"{HEADER}vars:\n  items:\n{items}jobs:\n{IMPORT_JOB}"


def many_keys(size: int) -> str:
    count = size // len("  key123456: value\n")
    keys = "".join(f"  key{i}: value\n" for i in range(count))
    return f"{HEADER}vars:\n{keys}jobs:\n{IMPORT_JOB}"


def deep_nesting(size: int) -> str:
    """Mappings nested 60 deep (under the depth limit), side by side."""
    inner = "".join("  " * (depth + 2) + f"k{depth}:\n" for depth in range(60))
    block = inner + "  " * 62 + "v: 1\n"
    count = size // (len(block) + 10)
    vars_ = "".join(f"  n{i}:\n{block}" for i in range(count))
    return f"{HEADER}vars:\n{vars_}jobs:\n{IMPORT_JOB}"


def collection_alias_bomb(size: int) -> str:
    """The classic billion laughs, nine levels of lists of aliases."""
    lines = ['  l0: &l0 ["lol"]']
    for level in range(1, 10):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return HEADER + "vars:\n" + "\n".join(lines) + "\njobs:\n" + IMPORT_JOB


def jobs_at_the_value_limit(size: int) -> str:
    """As many jobs as fit under MAX_VALUES (13 values each), the rest a long description."""
    from runner.manifest.yamlsource import MAX_VALUES

    jobs = "".join(_JOB.format(i=i) for i in range((MAX_VALUES - 20) // 13))
    text = HEADER + "jobs:\n" + jobs
    return f"description: {'y' * max(0, size - len(text) - 20)}\n" + text


def keys_at_the_value_limit(size: int) -> str:
    from runner.manifest.yamlsource import MAX_VALUES

    count = (MAX_VALUES - 20) // 2
    keys = "".join(f"  key{i}: value\n" for i in range(count))
    text = f"{HEADER}vars:\n{keys}jobs:\n{IMPORT_JOB}"
    return f"description: {'y' * max(0, size - len(text) - 20)}\n" + text


def unknown_vars_among_many(size: int) -> str:
    """Many vars, and as many references to vars that do not exist: each a problem that
    once listed (and guessed among) every defined var."""
    count = min(size // 40, 100_000)  # 2 values per var: under MAX_VALUES, so all are read
    vars_ = "".join(f"  v{i}: x\n" for i in range(count))
    refs = "".join(f"${{{{ vars.u{i} }}}}" for i in range(count))
    return (
        f"{HEADER}vars:\n{vars_}jobs:\n  a:\n    job: export_list_data\n    list: VIP\n"
        f'    report_email: "{refs}"\n'
    )


SHAPES: dict[str, Callable[[int], str]] = {
    "alias-bomb-scalar": alias_bomb,
    "alias-bomb-expression": alias_bomb_expression,
    "billion-laughs": collection_alias_bomb,
    "one-string": one_string,
    "many-jobs": many_jobs,
    "long-list": long_list,
    "many-expressions": many_expressions,
    "many-keys": many_keys,
    "deep-nesting": deep_nesting,
    "jobs-at-value-limit": jobs_at_the_value_limit,
    "keys-at-value-limit": keys_at_the_value_limit,
    "unknown-vars-among-many": unknown_vars_among_many,
}


def sailjobs() -> str:
    here = Path(sys.executable).parent / "sailjobs"
    return str(here) if here.exists() else "sailjobs"


def measure(path: Path, timeout: float) -> tuple[float, float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS MiB, exit code, first output line) of one
    validate; CPU time is what to compare on a busy machine."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sailjobs(), "validate", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return timeout, float("nan"), float("nan"), -1, f"TIMED OUT after {timeout:.0f} s"
    wall = time.perf_counter() - started
    # The child is reaped: RUSAGE_CHILDREN's peak is the highest of this process's children,
    # which is this one child's since main() runs one shape per process.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    lines = output.decode(errors="replace").strip().splitlines()
    first = lines[0][:150] if lines else ""
    return wall, cpu, peak, process.returncode, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="size of each manifest (MB)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", nargs="*", choices=sorted(SHAPES), default=None)
    args = parser.parse_args()
    names = args.only or list(SHAPES)
    size = int(args.mb * 1_000_000)
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            path = Path(folder) / f"{name}.yaml"
            path.write_text(SHAPES[name](size))
            if len(names) > 1:  # a child per shape keeps each peak RSS its own
                argv = [sys.executable, __file__, "--mb", str(args.mb), "--only", name]
                argv += ["--timeout", str(args.timeout)]
                subprocess.run(argv, check=False)
                continue
            wall, cpu, peak, code, first = measure(path, args.timeout)
            megabytes = path.stat().st_size / 1_000_000
            print(
                f"{name:<22} {megabytes:5.1f} MB  {wall:6.2f} s ({cpu:5.2f} s CPU)  "
                f"peak RSS {peak:7.1f} MiB  exit {code}  {first[:90]}"
            )


if __name__ == "__main__":
    main()
