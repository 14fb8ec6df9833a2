"""The operations manual's scripts, call by call and field by field, against mail the real pipeline processed."""

from __future__ import annotations

from pathlib import Path

import httpx

from emailbot.ops.monitor import run_monitoring_cycle
from emailbot.runtime import Runtime
from tests.analytics.planted import write_mailbox


async def test_every_call_of_the_manual_gets_its_fields(
    runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    families = write_mailbox(tmp_path / "mailbox", per_family=6, noise=12)
    await runtime.engine.poll_once()
    await runtime.engine.drain()
    await run_monitoring_cycle(runtime)  # the SystemMonitor's cycle: a sample and its alerts

    # daily_health_check.sh
    assert (await client.get("/health")).status_code == 200
    assert "components" in (await client.get("/health/detailed")).json()
    status = (await client.get("/process/status")).json()
    assert status["emails_processed_today"] == len(families)
    assert status["current_queue_size"] == 0
    # SystemMonitor._check_processing_metrics
    assert set(status["processing_stats"]) >= {"success_rate", "average_processing_time"}

    # daily_maintenance.sh and monthly_maintenance.sh
    assert (await client.post("/internal/metrics/update")).json()["status"] == "completed"
    monthly = (await client.get("/analytics/performance", params={"period": "month"})).json()
    assert monthly["metrics"]["emails_processed"] == len(families)
    assert "classification_accuracy" in (await client.get("/analytics/performance?period=day")).json()["metrics"]
    distribution = (await client.get("/analytics/performance")).json()["confidence_distribution"]
    assert sum(distribution.values()) == len(families)
    analysis = (await client.post("/internal/patterns/analyze")).json()
    assert analysis["patterns_found"] > 0

    # PerformanceMetrics.get_kpi_summary
    kpis = (await client.get("/analytics/kpis", params={"hours": 24})).json()
    assert set(kpis["time_range"]) == {"start", "end", "hours"}
    assert set(kpis["email_processing"]) == {
        "total_processed",
        "success_rate",
        "avg_processing_time",
        "automation_rate",
    }
    assert kpis["email_processing"]["total_processed"] == len(families)
    assert set(kpis["classification"]) == {"accuracy", "confidence_distribution", "category_distribution"}
    assert sum(kpis["classification"]["category_distribution"].values()) == len(families)
    assert set(kpis["system"]) == {"cpu_usage", "memory_usage", "disk_usage", "uptime"}
    assert set(kpis["availability"]) >= {"uptime_percentage", "api_response_time", "error_rate"}
    assert kpis["availability"]["uptime_percentage"] == 100.0

    # CapacityAnalyzer.analyze_capacity_trends
    capacity = (await client.get("/analytics/capacity", params={"days": 30})).json()
    assert set(capacity["analysis_period"]) == {"start", "end", "days"}
    assert set(capacity["email_volume"]) >= {
        "current_daily_average",
        "growth_rate",
        "peak_daily_volume",
        "projected_volume",
    }
    for resource in ("cpu", "memory"):
        assert set(capacity["resource_usage"][resource]) >= {"average", "peak", "trend"}
        assert capacity["resource_usage"][resource]["average"] is not None  # from the cycle's sample
    assert set(capacity["resource_usage"]["storage"]) >= {"used", "growth_rate", "projected_full"}
    assert capacity["resource_usage"]["storage"]["used"] > 0
    assert isinstance(capacity["recommendations"], list)

    # SecurityMonitor.check_security_events
    security = (await client.get("/security/events")).json()
    for event in security["events"]:
        assert set(event) == {"severity", "type", "message", "details"}

    patterns = (await client.get("/analytics/patterns", params={"days": 30, "min_frequency": 3})).json()
    assert patterns["patterns"]
    assert all(p["frequency"] >= 3 for p in patterns["patterns"])
    assert (await client.get("/alerts")).status_code == 200
    assert "emailbot_emails_processed_total" in (await client.get("/metrics")).text
