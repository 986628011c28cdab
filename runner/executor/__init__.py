"""The run: its lifecycle (lock, state, signals, notify), the scheduler, a job's live state,
preparing and finishing a job, action lists, split ranges, polling, the work pool, the run
state and progress.

Face: ``run(path_or_loaded, ...)`` → ``RunResult``; ``exit_code_for``; ``RunSetupError``.
"""

from typing import TYPE_CHECKING

from runner.lazy import lazy_exports

if TYPE_CHECKING:
    from runner.executor.lifecycle import RunSetupError, exit_code_for, run

__all__ = ["RunSetupError", "exit_code_for", "run"]
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "runner.executor.lifecycle"))
