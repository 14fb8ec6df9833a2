"""The work queue hands email ids to workers. It is only a hint: the database says what is due, and the sweeper
puts back anything a lost message or a dead worker left behind, so a queue may drop items without losing mail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol


class WorkQueue(Protocol):
    async def put(self, email_ids: Sequence[int]) -> None: ...

    async def get_batch(self, max_items: int, timeout: float) -> list[int]:
        """Up to `max_items` ids; waits at most `timeout` seconds for the first one."""
        ...

    def size(self) -> int: ...


class MemoryQueue:
    """The in-process queue of the single-process default. An id already waiting is not queued twice."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._waiting: set[int] = set()

    async def put(self, email_ids: Sequence[int]) -> None:
        for email_id in email_ids:
            if email_id not in self._waiting:
                self._waiting.add(email_id)
                self._queue.put_nowait(email_id)

    async def get_batch(self, max_items: int, timeout: float) -> list[int]:
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return []
        batch = [first]
        while len(batch) < max_items and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        self._waiting.difference_update(batch)
        return batch

    def size(self) -> int:
        return self._queue.qsize()
