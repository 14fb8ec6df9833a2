"""The operations schedule: the monitoring cycle, the daily-metrics update and pattern discovery, each a job on
the engine's schedule (started and stopped with it). A failing round is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from emailbot.analytics.daily import materialize
from emailbot.ops.monitor import run_monitoring_cycle

if TYPE_CHECKING:
    from emailbot.runtime import Runtime

log = logging.getLogger(__name__)


def schedule_operations(runtime: Runtime) -> None:
    """The monitoring cycle, the daily-metrics update and pattern discovery, on the engine's schedule."""
    settings, engine = runtime.settings, runtime.engine
    engine.add_periodic("monitoring cycle", settings.monitor_interval_seconds, lambda: run_monitoring_cycle(runtime))
    engine.add_periodic(
        "daily metrics update", settings.metrics_update_interval_seconds, lambda: update_metrics(runtime)
    )
    if settings.pattern_analysis_interval_seconds:
        interval = settings.pattern_analysis_interval_seconds
        engine.add_periodic("pattern discovery", interval, lambda: analyze_patterns(runtime), first_after=interval)


async def update_metrics(runtime: Runtime, days: int | None = None) -> dict[str, Any]:
    async with runtime.db.transaction() as session:
        return await materialize(session, days=days)


async def analyze_patterns(runtime: Runtime, days: int = 30) -> dict[str, Any]:
    from emailbot.analytics.patterns import discover_and_store

    return await discover_and_store(runtime.db, days=days)
