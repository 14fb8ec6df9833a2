"""KPIs and performance on stored results with known numbers; daily metrics materialized and used."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, func, select

from emailbot.runtime import Runtime
from emailbot.store.tables import DailyMetricRow, EmailRow, utcnow
from tests.ops_data import add_feedback, store, stored_email


async def _seed(runtime: Runtime) -> dict[str, list[int]]:
    now = utcnow()
    recent = now - timedelta(hours=2)
    ids = {
        "recent": await store(
            runtime.db,
            [stored_email(recent, processing_ms=1000) for _ in range(6)]
            + [
                stored_email(
                    recent, category="PURCHASING", action="SUGGEST_RESPONSE", confidence=70, processing_ms=2000
                )
                for _ in range(2)
            ]
            + [stored_email(recent, category="ESCALATION", action="ESCALATE", confidence=30, processing_ms=4000)]
            + [stored_email(recent, category=None, action=None, status="failed", confidence=None, processing_ms=None)]
            + [stored_email(recent, status="received")],
        ),
        "three_days": await store(runtime.db, [stored_email(now - timedelta(days=3)) for _ in range(5)]),
        "ten_days": await store(
            runtime.db, [stored_email(now - timedelta(days=10), category="INFORMATION") for _ in range(4)]
        ),
        "forty_days": await store(runtime.db, [stored_email(now - timedelta(days=40)) for _ in range(3)]),
    }
    await add_feedback(runtime.db, ids["recent"][:4], "draft_approved")
    await add_feedback(runtime.db, ids["recent"][4:5], "category_corrected")
    return ids


async def test_kpis_have_the_manuals_fields_and_numbers(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await _seed(runtime)
    body = (await client.get("/analytics/kpis", params={"hours": 24})).json()

    assert body["time_range"]["hours"] == 24
    assert body["email_processing"] == {
        "total_processed": 10,
        "success_rate": 0.9,
        "avg_processing_time": pytest.approx((6 * 1000 + 2 * 2000 + 4000) / 9 / 1000, abs=1e-4),
        "automation_rate": 0.6,
    }
    assert body["classification"]["accuracy"] == 0.8
    assert body["classification"]["confidence_distribution"] == {"0-39": 1, "40-59": 0, "60-84": 2, "85-100": 6}
    assert body["classification"]["category_distribution"] == {"SUPPORT": 6, "PURCHASING": 2, "ESCALATION": 1}
    assert set(body["system"]) == {"cpu_usage", "memory_usage", "disk_usage", "uptime"}
    assert 0 <= body["system"]["memory_usage"] <= 100
    assert set(body["availability"]) >= {"uptime_percentage", "api_response_time", "error_rate"}

    week = (await client.get("/analytics/kpis", params={"hours": 24 * 7})).json()
    assert week["email_processing"]["total_processed"] == 15


async def test_performance_by_period_from_raw_and_materialized_days(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ids = await _seed(runtime)
    day = (await client.get("/analytics/performance", params={"period": "day"})).json()
    assert day["metrics"]["emails_processed"] == 10
    assert day["metrics"]["classification_accuracy"] == 0.8
    assert day["metrics"]["escalation_rate"] == 0.1
    assert set(day) >= {"metrics", "trends", "confidence_distribution", "category_distribution", "performance_goals"}
    assert day["performance_goals"]["classification_accuracy"] == {
        "target": 0.85,
        "comparison": ">=",
        "actual": 0.8,
        "met": False,
    }
    before = (await client.get("/analytics/performance", params={"period": "month"})).json()
    assert before["metrics"]["emails_processed"] == 19
    assert before["category_distribution"] == {"SUPPORT": 11, "INFORMATION": 4, "PURCHASING": 2, "ESCALATION": 1}
    assert sum(d["emails_processed"] for d in before["trends"]["daily"]) == 19

    update = (await client.post("/internal/metrics/update")).json()
    assert update["status"] == "completed"
    assert update["days_updated"] >= 40
    # The materialized days now answer for the raw rows: remove the raw rows of ten days ago.
    async with runtime.db.transaction() as session:
        await session.execute(delete(EmailRow).where(EmailRow.id.in_(ids["ten_days"])))
        rows = await session.scalar(select(func.count()).select_from(DailyMetricRow))
    assert rows is not None
    assert rows >= 40
    after = (await client.get("/analytics/performance", params={"period": "month"})).json()
    assert after["metrics"] == before["metrics"]
    assert after["category_distribution"] == before["category_distribution"]
    assert after["trends"]["daily"] == before["trends"]["daily"]


async def test_bad_parameters_get_the_error_format(client: httpx.AsyncClient) -> None:
    for path, params in (
        ("/analytics/performance", {"period": "year"}),
        ("/analytics/kpis", {"hours": 0}),
        ("/analytics/capacity", {"days": "many"}),
        ("/analytics/patterns", {"min_frequency": 0}),
        ("/security/events", {"hours": -1}),
        ("/internal/metrics/update", {"days": 0}),
    ):
        response = await (client.post(path, params=params) if "internal" in path else client.get(path, params=params))
        assert response.status_code == 422, path
        assert response.json()["error"]["code"] == "validation_error"
