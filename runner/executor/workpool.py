"""A small bounded pool of daemon worker threads that report back to one event queue.

The scheduler never gives a job its own thread: HTTP calls and actions are short tasks
run here, and their results come back as ``TaskDone`` events on the queue the scheduling
loop waits on. Daemon threads, so an interrupted run can exit at once even while an
action is still downloading (its file is written atomically; the next run resumes it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_STOP = object()


@dataclass(frozen=True)
class TaskDone:
    """A task finished: ``value`` is what it returned, or ``error`` what it raised."""

    kind: str  # "submit" | "poll" | "actions" | …
    key: str  # the job id it was for
    value: Any = None
    error: BaseException | None = None


class WorkPool:
    def __init__(self, size: int, name: str, events: queue.Queue[Any]) -> None:
        self._tasks: queue.Queue[Any] = queue.Queue()
        self._events = events
        self._threads = [
            threading.Thread(target=self._work, name=f"sailjobs-{name}-{i}", daemon=True)
            for i in range(size)
        ]
        self.outstanding = 0  # read and written by the scheduling loop only
        for thread in self._threads:
            thread.start()

    def submit(self, kind: str, key: str, fn: Callable[[], Any]) -> None:
        self.outstanding += 1
        self._tasks.put((kind, key, fn))

    def done(self) -> None:
        """The loop got one of this pool's TaskDone events."""
        self.outstanding -= 1

    def _work(self) -> None:
        while True:
            item = self._tasks.get()
            if item is _STOP:
                return
            kind, key, fn = item
            try:
                event = TaskDone(kind, key, value=fn())
            except BaseException as exc:  # reported to the loop, which decides
                event = TaskDone(kind, key, error=exc)
            self._events.put(event)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the threads once their current task ends; join them when ``wait``."""
        for _ in self._threads:
            self._tasks.put(_STOP)
        if wait:
            for thread in self._threads:
                thread.join(timeout)
