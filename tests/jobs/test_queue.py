"""The in-process work queue: batches, no duplicates while waiting, and a bounded wait."""

from __future__ import annotations

import asyncio

from emailbot.jobs.queue import MemoryQueue


async def test_batches_in_order_without_duplicates() -> None:
    queue = MemoryQueue()
    await queue.put([1, 2, 3])
    await queue.put([2, 3, 4])
    assert queue.size() == 4
    assert await queue.get_batch(3, timeout=1) == [1, 2, 3]
    assert await queue.get_batch(3, timeout=1) == [4]
    await queue.put([1])  # taken ids may be queued again (a retry)
    assert await queue.get_batch(3, timeout=1) == [1]


async def test_empty_queue_returns_nothing_after_the_timeout() -> None:
    assert await MemoryQueue().get_batch(10, timeout=0.01) == []


async def test_a_waiting_worker_wakes_when_work_arrives() -> None:
    queue = MemoryQueue()
    waiting = asyncio.create_task(queue.get_batch(10, timeout=5))
    await asyncio.sleep(0)
    await queue.put([7])
    assert await waiting == [7]
