"""Answers cached by a hash of everything that determines them (prompt version, model, mode, messages).

The same email arriving twice (a resend, a mail loop, a newsletter to many) costs one request. Redis when
`EMAILBOT_REDIS_URL` is set, so every worker shares the cache; an in-memory LRU otherwise. A cache failure is
never an email's failure: it is a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger(__name__)


def cache_key(*parts: Any) -> str:
    encoded = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class ResponseCache(Protocol):
    name: str

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def set(self, key: str, value: dict[str, Any]) -> None: ...


class MemoryCache:
    name = "memory"

    def __init__(self, size: int = 10_000, ttl_seconds: float = 7 * 24 * 3600) -> None:
        self.size = size
        self.ttl = ttl_seconds
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is None:
            return None
        stored_at, value = item
        if self.ttl and time.monotonic() - stored_at > self.ttl:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class RedisCache:
    name = "redis"

    def __init__(self, redis: Any, ttl_seconds: int, prefix: str = "emailbot:llm:cache:") -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.prefix = prefix

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(self.prefix + key)
        except Exception as exc:  # noqa: BLE001 - a cache outage is a miss
            log.warning("LLM cache: Redis get failed (%s)", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def set(self, key: str, value: dict[str, Any]) -> None:
        try:
            await self.redis.set(self.prefix + key, json.dumps(value), ex=self.ttl or None)
        except Exception as exc:  # noqa: BLE001
            log.warning("LLM cache: Redis set failed (%s)", type(exc).__name__)
