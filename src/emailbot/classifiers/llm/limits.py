"""Client-side requests-per-minute and tokens-per-minute limits, so a burst of mail never trips the provider's.

Two token buckets refilled continuously; a request waits until both hold enough. Waiting here is cheaper than a
429 and its Retry-After, and keeps the circuit breaker for real failures.
"""

from __future__ import annotations

import asyncio
import time


class Bucket:
    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.rate = per_minute / 60.0
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is now)."""
        self._refill()
        amount = min(amount, self.capacity)  # a single request bigger than a minute's allowance waits a minute
        return 0.0 if self.level >= amount else (amount - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= min(amount, self.capacity)


class RateLimiter:
    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self.requests = Bucket(requests_per_minute) if requests_per_minute else None
        self.tokens = Bucket(tokens_per_minute) if tokens_per_minute else None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        async with self._lock:  # one waiter at a time keeps the order fair and the buckets consistent
            while (delay := self._delay(tokens)) > 0:
                await asyncio.sleep(delay)
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(tokens)

    def _delay(self, tokens: int) -> float:
        delays = [0.0]
        if self.requests:
            delays.append(self.requests.wait_for(1))
        if self.tokens:
            delays.append(self.tokens.wait_for(tokens))
        return max(delays)
