"""The manifest stage: YAML with positions, the models, expressions and filters, the loader,
the planner and its static checks, plan rendering, the JSON Schema, folder validation.

Face: ``load_manifest(path)`` → ``LoadedManifest``; ``build_plan(loaded)`` → ``Plan``.
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

if TYPE_CHECKING:
    from runner.manifest.loaded import LoadedManifest
    from runner.manifest.loader import load_manifest
    from runner.manifest.planner import Plan, build_plan

__all__ = ["LoadedManifest", "Plan", "build_plan", "load_manifest"]
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load_manifest": "runner.manifest.loader",
        "LoadedManifest": "runner.manifest.loaded",
        "build_plan": "runner.manifest.planner",
        "Plan": "runner.manifest.planner",
    },
)
