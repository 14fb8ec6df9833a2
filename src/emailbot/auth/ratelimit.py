"""Rate limits per key and route: a fixed one-minute window, counted in Redis when configured, else in memory.

A fixed window is one INCR and one EXPIRE per request, and its counts are exact across processes; the price is
that a client may spend two windows' worth around a boundary, which is acceptable for an operators' API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Verdict:
    limit: int
    remaining: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        return self.remaining >= 0

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter(Protocol):
    limit: int

    async def hit(self, bucket: str) -> Verdict: ...

    async def close(self) -> None: ...


def _window(now: float) -> tuple[int, int]:
    start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    return start, max(1, start + WINDOW_SECONDS - int(now))


class MemoryRateLimiter:
    """One process's counts; old windows are dropped as soon as a new one starts."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = 0
        self._counts: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def hit(self, bucket: str) -> Verdict:
        start, reset = _window(time.time())
        async with self._lock:
            if start != self._window:
                self._window, self._counts = start, {}
            self._counts[bucket] = count = self._counts.get(bucket, 0) + 1
        return Verdict(self.limit, self.limit - count, reset)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counts shared by every EmailBot process using the same Redis."""

    def __init__(self, url: str, limit: int, namespace: str = "emailbot:ratelimit") -> None:
        from redis.asyncio import Redis

        self.limit = limit
        self.namespace = namespace
        self._redis = Redis.from_url(url)

    async def hit(self, bucket: str) -> Verdict:
        start, reset = _window(time.time())
        key = f"{self.namespace}:{start}:{bucket}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS + 5)
                count, _ = await pipe.execute()
        except RedisError as exc:
            # A rate limiter that is down must not take the API down with it: the call is let through.
            log.warning("rate limits are off while Redis is unreachable: %s", type(exc).__name__)
            return Verdict(self.limit, self.limit, reset)
        return Verdict(self.limit, self.limit - int(count), reset)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None, limit: int) -> RateLimiter:
    return RedisRateLimiter(redis_url, limit) if redis_url else MemoryRateLimiter(limit)
