"""What the API process sets up besides the engine: registered keys, the settings operators changed at run time,
the jobs it schedules on the engine (operations, retraining, calibration), and the rate limiter's connection."""

from __future__ import annotations

from fastapi import FastAPI

from emailbot.auth.keys import ensure_env_key
from emailbot.auth.ratelimit import RateLimiter
from emailbot.learning.calibration import schedule_calibration
from emailbot.learning.schedule import schedule_retraining
from emailbot.ops.live_settings import load_stored
from emailbot.ops.schedule import schedule_operations
from emailbot.runtime import Runtime


async def start(runtime: Runtime) -> None:
    """Before the engine starts: the bootstrap key, the settings operators changed at run time."""
    if runtime.settings.api_key is not None:
        async with runtime.db.transaction() as session:
            await ensure_env_key(session, runtime.settings.api_key.get_secret_value().strip())
    await load_stored(runtime)


def schedule(runtime: Runtime) -> None:
    """The jobs this process runs on the engine's schedule besides processing mail."""
    schedule_operations(runtime)
    schedule_retraining(runtime)
    schedule_calibration(runtime)


async def stop(app: FastAPI) -> None:
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.close()
