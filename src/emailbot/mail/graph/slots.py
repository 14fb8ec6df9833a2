"""Each mailbox's request slots: Graph allows 4 concurrent requests per app and mailbox, and the items of a
`$batch` count one by one, so a batch holds as many slots as Graph runs its items at once."""

from __future__ import annotations

import asyncio
from collections import Counter


class WeightedSlots:
    """A semaphore whose holders take several units at once, all or nothing (so two can never deadlock)."""

    def __init__(self, units: int) -> None:
        self.free = units
        self._changed = asyncio.Condition()

    async def acquire(self, units: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= units)
            self.free -= units

    async def release(self, units: int) -> None:
        if units <= 0:
            return
        async with self._changed:
            self.free += units
            self._changed.notify_all()


class MailboxSlot:
    """`weight` of one mailbox's slots, held while a request is on the wire; counts what is in flight per mailbox."""

    def __init__(
        self, mailbox: str, slots: WeightedSlots, weight: int, in_flight: Counter[str], peak: Counter[str]
    ) -> None:
        self.mailbox = mailbox
        self.slots = slots
        self.weight = weight
        self._in_flight = in_flight
        self._peak = peak

    async def __aenter__(self) -> MailboxSlot:
        await self.slots.acquire(self.weight)
        self._count(self.weight)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._count(-self.weight)
        await self.slots.release(self.weight)

    async def shrink(self, weight: int) -> None:
        """Give back what a smaller batch than expected does not use."""
        spare = self.weight - max(1, min(weight, self.weight))
        if spare > 0:
            self.weight -= spare
            self._count(-spare)
            await self.slots.release(spare)

    def _count(self, change: int) -> None:
        self._in_flight[self.mailbox] += change
        self._peak[self.mailbox] = max(self._peak[self.mailbox], self._in_flight[self.mailbox])
