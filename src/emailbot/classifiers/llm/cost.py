"""Cost accounting and the daily budget.

Prices come from the operator (`EMAILBOT_LLM_PRICES`: model → [input, output] per million tokens), because they
change and differ by provider and contract; an unknown model costs 0 and is shown as unpriced. Spending is kept per
UTC day in Redis when configured (so every worker sees the same total) and in memory otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)
PER_TOKENS = 1_000_000


class PriceTable:
    def __init__(self, prices: Mapping[str, tuple[float, float]]) -> None:
        self.prices = dict(prices)

    def knows(self, model: str) -> bool:
        return model in self.prices

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        prompt_price, completion_price = self.prices.get(model, (0.0, 0.0))
        return (prompt_tokens * prompt_price + completion_tokens * completion_price) / PER_TOKENS


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class DailyBudget:
    """Money spent today against a cap; `None` means no cap. With a Redis client the total is shared."""

    def __init__(self, limit: float | None, redis: Any = None, prefix: str = "emailbot:llm:spend:") -> None:
        self.limit = limit
        self.redis = redis
        self.prefix = prefix
        self._day = today()
        self._spent = 0.0
        # Without Redis, what was spent today before this process started is read back from the database once,
        # so a restart does not reset the cap.
        self.history: Callable[[], Awaitable[float]] | None = None
        self._seeded_for = ""

    async def spent(self) -> float:
        if self.redis is not None:
            try:
                value = await self.redis.get(self.prefix + today())
                return float(value or 0)
            except Exception as exc:  # noqa: BLE001 - Redis trouble must not stop classification
                log.warning("LLM budget: Redis unavailable (%s); using this process's count", type(exc).__name__)
        self._roll()
        await self._seed()
        return self._spent

    async def _seed(self) -> None:
        if self.history is None or self._seeded_for == self._day:
            return
        self._seeded_for = self._day
        try:
            self._spent += await self.history()
        except Exception as exc:  # noqa: BLE001 - without history the count starts at this process's spending
            log.warning("LLM budget: cannot read today's spending from the database (%s)", type(exc).__name__)

    async def add(self, amount: float) -> None:
        if amount <= 0:
            return
        self._roll()
        self._spent += amount
        if self.redis is not None:
            key = self.prefix + today()
            try:
                await self.redis.incrbyfloat(key, amount)
                await self.redis.expire(key, 3 * 24 * 3600)
            except Exception as exc:  # noqa: BLE001
                log.warning("LLM budget: cannot record spending in Redis (%s)", type(exc).__name__)

    async def exhausted(self) -> bool:
        return self.limit is not None and await self.spent() >= self.limit

    def _roll(self) -> None:
        if self._day != today():
            self._day, self._spent = today(), 0.0
