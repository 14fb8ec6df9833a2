"""Key performance indicators for the last N hours (the manual's `PerformanceMetrics.get_kpi_summary`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.analytics.daily import buckets_between
from emailbot.analytics.performance import classification_accuracy, summarize
from emailbot.ops.system import Resources
from emailbot.settings import Settings
from emailbot.store.tables import SystemMetricRow, utcnow


async def kpi_summary(
    session: AsyncSession, settings: Settings, started_at: datetime, hours: int, system: Resources
) -> dict[str, Any]:
    end = utcnow()
    start = end - timedelta(hours=hours)
    summary = summarize(await buckets_between(session, start, end))
    accuracy = await classification_accuracy(session, start, end)
    return {
        "time_range": {"start": start.isoformat(), "end": end.isoformat(), "hours": hours},
        "email_processing": {
            "total_processed": summary.processed,
            "success_rate": summary.success_rate,
            "avg_processing_time": summary.average_processing_time,
            "automation_rate": summary.automation_rate,
        },
        "classification": {
            "accuracy": accuracy["accuracy"],
            "confidence_distribution": summary.confidence_distribution,
            "category_distribution": summary.category_distribution,
        },
        "system": {
            "cpu_usage": system.cpu_percent,
            "memory_usage": system.memory_percent,
            "disk_usage": system.disk_percent,
            "uptime": round((end - started_at).total_seconds() / 3600, 2),
        },
        "availability": await availability(session, start, end, settings.monitor_interval_seconds),
    }


async def availability(session: AsyncSession, start: datetime, end: datetime, interval: float) -> dict[str, Any]:
    """From the monitoring cycle's samples: the share of the cycles due in the window that found the service up
    (a cycle missed because the service was down counts as down), and the API's traffic.
    """
    first_ever = await session.scalar(select(func.min(SystemMetricRow.at)))
    samples, healthy, requests, errors, response_ms = (
        await session.execute(
            select(
                func.count(),
                func.count(case((SystemMetricRow.healthy.is_(True), 1))),
                func.sum(SystemMetricRow.api_requests),
                func.sum(SystemMetricRow.api_errors),
                func.sum(SystemMetricRow.api_response_ms_sum),
            ).where(SystemMetricRow.at >= start, SystemMetricRow.at <= end)
        )
    ).one()
    uptime = None
    if first_ever is not None and samples:
        observed = (end - max(start, first_ever)).total_seconds()
        expected = int(observed // interval) + 1
        uptime = round(min(100.0, healthy / expected * 100), 2)
    return {
        "uptime_percentage": uptime,
        "api_response_time": round(response_ms / requests, 2) if requests else None,
        "error_rate": round(errors / requests, 4) if requests else None,
        "samples": samples,
        "api_requests": int(requests or 0),
    }
