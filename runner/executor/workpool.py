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
from typing import TypeVar

T = TypeVar("T")
_Task = tuple[str, str, Callable[[], object]]  # kind, key, the work; None stops a thread


@dataclass(frozen=True)
class TaskDone:
    """A task finished: ``value`` is what it returned, or ``error`` what it raised."""

    kind: str  # "submit" | "poll" | "actions" | …
    key: str  # the job id it was for
    value: object = None  # the scheduler narrows it by ``kind`` (see its ``_handle``)
    error: BaseException | None = None

    def value_as(self, kind: type[T]) -> T:
        """``value``, checked to be what the task of this ``kind`` returns."""
        if not isinstance(self.value, kind):
            raise TypeError(f"a {self.kind!r} task returned {type(self.value).__name__}")
        return self.value


class WorkPool:
    def __init__(self, size: int, name: str, events: queue.Queue[TaskDone]) -> None:
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._events = events
        self._threads = [
            threading.Thread(target=self._work, name=f"sailjobs-{name}-{i}", daemon=True)
            for i in range(size)
        ]
        self.outstanding = 0  # read and written by the scheduling loop only
        for thread in self._threads:
            thread.start()

    def submit(self, kind: str, key: str, fn: Callable[[], object]) -> None:
        self.outstanding += 1
        self._tasks.put((kind, key, fn))

    def done(self) -> None:
        """The loop got one of this pool's TaskDone events."""
        self.outstanding -= 1

    def _work(self) -> None:
        while True:
            item = self._tasks.get()
            if item is None:
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
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join(timeout)
