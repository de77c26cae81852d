"""One owner for the background tasks of a session (or a call, or a voice pipeline).

Every task is spawned through a :class:`TaskOwner`, which keeps it until it ends, logs it if it fails
(with the owner's name and what the task was for) and reports the failure to the owner (a session turns
it into an ``error`` event and keeps serving), and cancels whatever is left when the owner closes. So no
failure is lost as "Task exception was never retrieved", and nothing outlives its session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["TaskOwner"]

log = logging.getLogger(__name__)

OnFailure = Callable[[str, BaseException], Coroutine[Any, Any, None]]


class TaskOwner:
    """Spawns, watches and finally cancels the tasks of one owner."""

    def __init__(self, name: str, on_failure: OnFailure | None = None) -> None:
        self.name = name
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        """Run ``coro`` as a task owned here; ``what`` names it in the log if it fails."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, what))
        return task

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            return
        log.error("%s: %s failed", self.name, what, exc_info=error)
        if self._on_failure is not None and not self._closed:
            report = asyncio.ensure_future(self._on_failure(what, error))
            self._tasks.add(report)
            report.add_done_callback(self._reported)

    def _reported(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: reporting a failure failed", self.name, exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel every task still running and wait for them. Idempotent; nothing is reported after."""
        self._closed = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
