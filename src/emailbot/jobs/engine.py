"""The engine: a poller that ingests new mail, workers that process it, and a sweeper that re-drives anything
stuck. One process runs all three by default; with a shared queue and PostgreSQL, several can run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emailbot.domain import Email, RawMessage
from emailbot.jobs.queue import WorkQueue
from emailbot.mail.base import Mailbox
from emailbot.pipeline.process import Processor
from emailbot.store import system_state, work
from emailbot.store.db import Database
from emailbot.store.tables import utcnow

log = logging.getLogger(__name__)
Parser = Callable[[RawMessage], Email]


@dataclass(frozen=True, slots=True)
class EngineTiming:
    poll_interval: float = 2.0
    sweep_interval: float = 5.0
    batch_size: int = 50
    workers: int = 2
    # How stale the pause flag (set by `emailbot pause`, restore, maintenance) may be when a loop consults it.
    pause_check_interval: float = 1.0


class Engine:
    def __init__(
        self,
        db: Database,
        mailbox: Mailbox,
        parse: Parser,
        processor: Processor,
        queue: WorkQueue,
        timing: EngineTiming,
    ) -> None:
        self.db = db
        self.mailbox = mailbox
        self.parse = parse
        self.processor = processor
        self.queue = queue
        self.timing = timing
        self.last_poll_at: datetime | None = None
        self.last_error: str | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.pause: dict[str, Any] | None = None
        self._pause_checked_at = -math.inf
        self._periodic: list[tuple[str, float, Callable[[], object], float]] = []

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self) -> None:
        loops = [self._poll_loop(), self._sweep_loop()] + [self._work_loop() for _ in range(self.timing.workers)]
        loops += [self._periodic_loop(*job) for job in self._periodic]
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def add_periodic(self, name: str, interval: float, step: Callable[[], object], *, first_after: float = 0.0) -> None:
        """Another job on the engine's schedule (SLA checks, monitoring, retraining), run every `interval` seconds
        once started, the first time after `first_after` seconds. Jobs are added before `start`."""
        self._periodic.append((name, interval, step, first_after))

    def trigger(self) -> None:
        """Poll now instead of at the next interval."""
        self._wake.set()

    async def is_paused(self) -> bool:
        """Whether processing is paused in the database (read at most every `pause_check_interval`)."""
        now = time.monotonic()
        if now - self._pause_checked_at >= self.timing.pause_check_interval:
            async with self.db.transaction() as session:
                self.pause = await system_state.pause_state(session)
            self._pause_checked_at = now
        return self.pause is not None

    async def poll_once(self) -> int:
        """Ingest everything new in the mailbox; returns how many emails were stored."""
        if await self.is_paused():
            return 0
        stored = 0
        while True:
            messages = await self.mailbox.fetch_new(self.timing.batch_size * 4)
            if not messages:
                break
            new_ids = await self.ingest(messages)
            stored += len(new_ids)
            await self.queue.put(new_ids)
        self.last_poll_at = utcnow()
        return stored

    async def ingest(self, messages: Sequence[RawMessage]) -> list[int]:
        parsed = [(message, self.parse(message)) for message in messages]
        async with self.db.transaction() as session:
            new_ids = await work.ingest(session, self.mailbox.name, parsed)
        await self.mailbox.acknowledge([message.source_id for message in messages])
        return new_ids

    async def sweep_once(self, limit: int = 5000) -> int:
        if await self.is_paused():
            return 0
        async with self.db.transaction() as session:
            due = await work.due_email_ids(session, limit)
        await self.queue.put(due)
        return len(due)

    async def drain(self) -> int:
        """Process everything that is due now, in this task (the `emailbot process` one-shot)."""
        processed = 0
        while True:
            if await self.is_paused():
                return processed
            async with self.db.transaction() as session:
                due = await work.due_email_ids(session, self.timing.batch_size)
            if not due:
                return processed
            outcome = await self.processor.process(due)
            processed += outcome.completed + outcome.failed
            if outcome.completed + outcome.failed == 0 and outcome.retrying == 0:
                return processed

    async def _poll_loop(self) -> None:
        while True:
            await self._guarded("poll", self.poll_once)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.timing.poll_interval)
            self._wake.clear()

    async def _sweep_loop(self) -> None:
        while True:
            await self._guarded("sweep", self.sweep_once)
            await asyncio.sleep(self.timing.sweep_interval)

    async def _work_loop(self) -> None:
        while True:
            batch = await self.queue.get_batch(self.timing.batch_size, timeout=1.0)
            if batch:
                await self._guarded("process", functools.partial(self._process_unless_paused, batch))

    async def _process_unless_paused(self, batch: list[int]) -> None:
        # A paused engine drops the hints: the sweeper hands the emails out again once processing resumes.
        if not await self.is_paused():
            await self.processor.process(batch)

    async def _periodic_loop(self, name: str, interval: float, step: Callable[[], object], first_after: float) -> None:
        """A failing round is logged and tried again next time; it is not the mail engine's `last_error`, which
        says whether mail is flowing."""
        await asyncio.sleep(first_after)
        while True:
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one failed round must not stop the job
                log.exception("%s failed", name)
            await asyncio.sleep(interval)

    async def _guarded(self, what: str, step: Callable[[], object]) -> None:
        """A failing step is logged and retried on the next round; the loop itself never dies."""
        try:
            result = step()
            if asyncio.iscoroutine(result):
                await result
            self.last_error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine must outlive any single failure
            self.last_error = f"{what}: {exc}"
            log.exception("%s failed", what)
