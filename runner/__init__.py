"""sailjobs: run Sailthru job pipelines declared as YAML manifests.

The import package is ``runner``; the distribution and the command are ``sailjobs``.
Every stage is a library call first and a CLI command second; the public library API:

- ``load_manifest(path)`` → ``LoadedManifest`` (raises ``ManifestError`` with every problem);
- ``build_plan(loaded)`` → ``Plan``;
- ``run(path_or_loaded, ...)`` → ``RunResult``; ``ExitCode`` maps outcomes to exit codes;
- ``hookimpl``: the marker of a plugin's hook functions.

Names load on first use (PEP 562), so ``sailjobs --help`` stays fast.
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

__version__ = "0.2.0"

if TYPE_CHECKING:
    from runner.executor.lifecycle import run
    from runner.exitcodes import ExitCode
    from runner.hookspecs import hookimpl
    from runner.manifest.loader import load_manifest
    from runner.manifest.planner import build_plan

__all__ = ["ExitCode", "build_plan", "hookimpl", "load_manifest", "run"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load_manifest": "runner.manifest.loader",
        "build_plan": "runner.manifest.planner",
        "run": "runner.executor.lifecycle",
        "hookimpl": "runner.hookspecs",
        "ExitCode": "runner.exitcodes",
    },
)
