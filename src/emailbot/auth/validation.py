"""`GET /config/validation` → `api_access`: can anyone get in, and are the rate limits and cookies set up right?"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from emailbot.auth import audit
from emailbot.auth.keys import has_usable_admin
from emailbot.auth.ratelimit import RedisRateLimiter
from emailbot.runtime import Runtime
from emailbot.validation import FAIL, PASS, WARN, Validation

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


async def validate_api_access(runtime: Runtime) -> Validation:
    settings = runtime.settings
    details: dict[str, Any] = {
        "rate_limit_per_minute": settings.rate_limit_per_minute,
        "rate_limits_shared": settings.redis_url is not None,
        "failed_attempts_since_start": dict(audit.failed_attempts),
    }
    async with runtime.db.transaction() as session:
        if not await has_usable_admin(session):
            return Validation(FAIL, "no active admin key: run `emailbot keys create --name NAME --role admin`", details)
    if settings.redis_url:
        limiter = RedisRateLimiter(settings.redis_url, settings.rate_limit_per_minute)
        try:
            reachable = await limiter.ping()
        finally:
            await limiter.close()
        if not reachable:
            return Validation(FAIL, "EMAILBOT_REDIS_URL is not reachable: rate limits are not enforced", details)
    public = urlparse(settings.public_url) if settings.public_url else None
    if public is not None and public.scheme != "https" and public.hostname not in LOOPBACK:
        message = "EMAILBOT_PUBLIC_URL is not https: dashboard sessions and API keys cross the network in clear"
        return Validation(WARN, message, details)
    return Validation(PASS, "API keys and rate limits are set up", details)
