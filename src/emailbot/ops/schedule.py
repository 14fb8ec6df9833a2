"""The operations schedule: the monitoring cycle, the daily-metrics update and pattern discovery, each a loop
started with the service. A failing round is logged and tried again at the next interval; the loop never dies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from emailbot.analytics.daily import materialize
from emailbot.ops.monitor import run_monitoring_cycle

if TYPE_CHECKING:
    from emailbot.runtime import Runtime

log = logging.getLogger(__name__)


def start_operations(runtime: Runtime) -> None:
    settings = runtime.settings
    loops = [
        _every(settings.monitor_interval_seconds, "monitoring cycle", lambda: run_monitoring_cycle(runtime)),
        _every(settings.metrics_update_interval_seconds, "daily metrics update", lambda: update_metrics(runtime)),
    ]
    if settings.pattern_analysis_interval_seconds:
        loops.append(
            _every(
                settings.pattern_analysis_interval_seconds,
                "pattern discovery",
                lambda: analyze_patterns(runtime),
                first_after=settings.pattern_analysis_interval_seconds,
            )
        )
    runtime.ops.tasks = [asyncio.create_task(loop) for loop in loops]


async def update_metrics(runtime: Runtime, days: int | None = None) -> dict[str, Any]:
    async with runtime.db.transaction() as session:
        return await materialize(session, days=days)


async def analyze_patterns(runtime: Runtime, days: int = 30) -> dict[str, Any]:
    from emailbot.analytics.patterns import discover_and_store

    return await discover_and_store(runtime.db, days=days)


async def _every(interval: float, what: str, step: Callable[[], Awaitable[object]], *, first_after: float = 0) -> None:
    await asyncio.sleep(first_after)
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one failed round must not stop monitoring
            log.exception("%s failed", what)
        await asyncio.sleep(interval)
