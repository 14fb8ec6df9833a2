"""What the API process starts besides the engine (and stops with it): registered keys, the settings operators
changed at run time, the scheduled retraining, and the rate limiter's connection."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from emailbot.auth.keys import ensure_env_key
from emailbot.auth.ratelimit import RateLimiter
from emailbot.learning.schedule import run_schedule
from emailbot.ops.live_settings import load_stored
from emailbot.runtime import Runtime


async def start(app: FastAPI, runtime: Runtime, *, run_engine: bool) -> list[asyncio.Task[None]]:
    if runtime.settings.api_key is not None:
        async with runtime.db.transaction() as session:
            await ensure_env_key(session, runtime.settings.api_key.get_secret_value().strip())
    await load_stored(runtime)
    return [asyncio.create_task(run_schedule(runtime))] if run_engine else []


async def stop(app: FastAPI, tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
    if limiter is not None:
        await limiter.close()
