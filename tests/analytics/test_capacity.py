"""Capacity: volume growth from stored emails, resource trends from monitoring samples, the manual's advice."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert

from emailbot.analytics.capacity import linear_fit
from emailbot.analytics.daily import midnight
from emailbot.runtime import Runtime
from emailbot.store.tables import SystemMetricRow, utcnow
from tests.ops_data import store, stored_email

TB = 10**12


async def _seed_growth(runtime: Runtime) -> None:
    now = utcnow()
    emails = []
    for days_ago in range(1, 11):  # 5 emails ten days ago, one more each day, 14 yesterday
        emails += [stored_email(now - timedelta(days=days_ago)) for _ in range(15 - days_ago)]
    await store(runtime.db, emails)
    samples = [
        {
            "at": midnight(now.date()) - timedelta(days=days_ago) + timedelta(hours=hour),
            "healthy": True,
            "cpu_percent": 70 + days_ago % 3 * 5,
            "memory_percent": 85.0,
            "disk_percent": 50.0,
            "disk_free_bytes": 100 * TB,
            "storage_bytes": (20 - days_ago) * 10 * TB,
            "queue_size": 0,
        }
        for days_ago in range(1, 11)
        for hour in (9, 15)
    ]
    async with runtime.db.transaction() as session:
        await session.execute(insert(SystemMetricRow), samples)


async def test_capacity_reports_growth_trends_and_recommendations(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _seed_growth(runtime)
    body = (await client.get("/analytics/capacity", params={"days": 30})).json()

    assert body["analysis_period"]["days"] == 30
    volume = body["email_volume"]
    assert volume["peak_daily_volume"] == 14
    assert volume["total_received"] == sum(range(5, 15))
    assert volume["growth_rate"] > 0.2
    assert volume["projected_volume"] > 14
    cpu, memory, storage = (body["resource_usage"][name] for name in ("cpu", "memory", "storage"))
    assert cpu["peak"] == 80
    assert cpu["average"] == pytest.approx(75, abs=0.01)
    assert memory == {"average": 85.0, "peak": 85.0, "trend": "stable", "trend_per_day": 0.0}
    assert storage["growth_rate"] == pytest.approx(10 * TB, rel=1e-6)
    assert storage["used"] > 0
    assert storage["projected_full"] is not None
    assert storage["projected_full"] < 90
    kinds = {advice["type"]: advice for advice in body["recommendations"]}
    assert set(kinds) == {"scaling", "cpu", "memory", "storage"}
    assert kinds["scaling"]["details"]["recommended_action"] == "Add processing workers or increase batch size"


async def test_capacity_without_history_is_empty_not_an_error(client: httpx.AsyncClient) -> None:
    body = (await client.get("/analytics/capacity")).json()
    assert body["email_volume"]["current_daily_average"] == 0
    assert body["email_volume"]["growth_rate"] is None
    assert body["resource_usage"]["cpu"]["trend"] == "unknown"
    assert body["recommendations"] == []


def test_linear_fit() -> None:
    assert linear_fit([1.0]) is None
    slope, intercept = linear_fit([2.0, 4.0, 6.0]) or (0, 0)
    assert slope == pytest.approx(2)
    assert intercept == pytest.approx(2)
