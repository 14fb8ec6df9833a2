"""The manual's CapacityAnalyzer: volume trend and growth, resource trends from the monitoring samples, storage
growth with the day the disk fills, and the manual's recommendations.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.analytics.daily import buckets_between, day_of
from emailbot.ops.system import database_bytes, directory_bytes, disk_free_bytes
from emailbot.settings import Settings
from emailbot.store.tables import SystemMetricRow, utcnow

PROJECTION_DAYS = 30
STABLE_PERCENT_PER_DAY = 0.5  # a resource trend smaller than this is noise


def linear_fit(values: list[float]) -> tuple[float, float] | None:
    """Slope and intercept of the least-squares line through values at x = 0, 1, 2, ...; None under 2 points."""
    if len(values) < 2:
        return None
    slope, intercept = np.polyfit(np.arange(len(values), dtype=float), np.asarray(values, dtype=float), 1)
    return float(slope), float(intercept)


async def analyze_capacity(session: AsyncSession, settings: Settings, days: int) -> dict[str, Any]:
    end = utcnow()
    start = end - timedelta(days=days)
    volume = await email_volume(session, start, end)
    usage = await resource_usage(session, settings, start, end)
    return {
        "analysis_period": {"start": start.isoformat(), "end": end.isoformat(), "days": days},
        "email_volume": volume,
        "resource_usage": usage,
        "recommendations": recommendations(volume, usage),
    }


async def email_volume(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Any]:
    """Emails received per complete day (today and the partial first day would bend the line)."""
    received: dict[date, int] = defaultdict(int)
    for bucket in await buckets_between(session, start, end):
        received[bucket.day] += int(bucket.counts["received"])
    days = [start.date() + timedelta(days=n) for n in range(1, (end.date() - start.date()).days)]
    series = [received.get(day, 0) for day in days] or [received.get(end.date(), 0)]
    fit = linear_fit([float(v) for v in series])
    peak = max(range(len(series)), key=series.__getitem__) if days else None
    return {
        "current_daily_average": round(sum(series) / len(series), 2),
        "growth_rate": _growth(fit, len(series)),
        "peak_daily_volume": max(series),
        "peak_day": days[peak].isoformat() if peak is not None else None,
        "projected_volume": round(max(0.0, fit[1] + fit[0] * (len(series) - 1 + PROJECTION_DAYS)), 1) if fit else None,
        "projection_days": PROJECTION_DAYS,
        "days_measured": len(series),
        "total_received": sum(series),
    }


def _growth(fit: tuple[float, float] | None, points: int) -> float | None:
    """Relative change of the fitted daily volume from the first to the last day of the period."""
    if fit is None:
        return None
    slope, intercept = fit
    first, last = intercept, intercept + slope * (points - 1)
    if first <= 0:
        return None if last <= 0 else 1.0
    return round((last - first) / first, 4)


async def resource_usage(session: AsyncSession, settings: Settings, start: datetime, end: datetime) -> dict[str, Any]:
    daily = await _daily_samples(session, start, end)
    return {
        "cpu": _resource_trend([row.cpu_avg for row in daily], [row.cpu_max for row in daily]),
        "memory": _resource_trend([row.memory_avg for row in daily], [row.memory_max for row in daily]),
        "storage": await storage(session, settings, daily),
        "samples": sum(row.samples for row in daily),
    }


async def _daily_samples(session: AsyncSession, start: datetime, end: datetime) -> list[Any]:
    sample = SystemMetricRow
    day = day_of(session, sample.at)
    query = (
        select(
            day.label("day"),
            func.count().label("samples"),
            func.avg(sample.cpu_percent).label("cpu_avg"),
            func.max(sample.cpu_percent).label("cpu_max"),
            func.avg(sample.memory_percent).label("memory_avg"),
            func.max(sample.memory_percent).label("memory_max"),
            func.max(sample.storage_bytes).label("storage_max"),
            func.min(sample.disk_free_bytes).label("disk_free_min"),
        )
        .where(sample.at >= start, sample.at < end)
        .group_by(day)
        .order_by(day)
    )
    return list(await session.execute(query))


def _resource_trend(averages: list[float], peaks: list[float]) -> dict[str, Any]:
    if not averages:
        return {"average": None, "peak": None, "trend": "unknown", "trend_per_day": None}
    fit = linear_fit(averages)
    slope = fit[0] if fit else 0.0
    trend = "stable"
    if fit and abs(slope) >= STABLE_PERCENT_PER_DAY:
        trend = "increasing" if slope > 0 else "decreasing"
    return {
        "average": round(sum(averages) / len(averages), 2),
        "peak": round(max(peaks), 2),
        "trend": trend,
        "trend_per_day": round(slope, 3) if fit else None,
    }


async def storage(session: AsyncSession, settings: Settings, daily: list[Any]) -> dict[str, Any]:
    """Used bytes now, growth per day from the daily samples, and in how many days the disk is full at that rate."""
    database = await database_bytes(session, settings.database_url)
    mailbox = await directory_bytes(settings.local_mailbox_dir)
    free = disk_free_bytes(settings.data_dir)
    fit = linear_fit([float(row.storage_max) for row in daily])
    growth = fit[0] if fit else None
    full_in = round(free / growth, 1) if growth and growth > 0 else None
    return {
        "used": database + mailbox,
        "database_bytes": database,
        "mailbox_bytes": mailbox,
        "disk_free_bytes": free,
        "growth_rate": round(growth, 1) if growth is not None else None,
        "projected_full": full_in,
        "projected_full_date": (utcnow() + timedelta(days=full_in)).date().isoformat() if full_in else None,
    }


def recommendations(volume: dict[str, Any], usage: dict[str, Any]) -> list[dict[str, Any]]:
    """The manual's rules, in its words."""
    found = []
    growth = volume["growth_rate"]
    if growth is not None and growth > 0.2:
        found.append(
            _advice(
                "scaling",
                "medium",
                "Email volume growing rapidly",
                "Consider increasing processing capacity",
                current_growth=f"{growth:.1%}",
                recommended_action="Add processing workers or increase batch size",
            )
        )
    cpu, memory, disk = usage["cpu"]["average"], usage["memory"]["average"], usage["storage"]["projected_full"]
    if cpu is not None and cpu > 70:
        found.append(
            _advice(
                "cpu",
                "high",
                "High CPU utilization",
                "Scale up CPU resources",
                current_avg=f"{cpu}%",
                recommended_action="Increase CPU cores or add horizontal scaling",
            )
        )
    if memory is not None and memory > 80:
        found.append(
            _advice(
                "memory",
                "high",
                "High memory utilization",
                "Increase memory allocation",
                current_avg=f"{memory}%",
                recommended_action="Increase RAM or optimize memory usage",
            )
        )
    if disk is not None and disk < 90:
        found.append(
            _advice(
                "storage",
                "medium",
                "Storage will be full soon",
                "Plan storage expansion",
                projected_full_days=disk,
                recommended_action="Implement data archival or expand storage",
            )
        )
    return found


def _advice(kind: str, priority: str, description: str, action: str, **details: Any) -> dict[str, Any]:
    return {"type": kind, "priority": priority, "description": description, "action": action, "details": details}
