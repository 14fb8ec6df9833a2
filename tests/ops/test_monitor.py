"""The monitoring cycle: every check against its threshold, alerts through the real sink, samples stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from emailbot.api.app import create_app
from emailbot.ops.monitor import run_monitoring_cycle
from emailbot.runtime import build_runtime
from emailbot.store.tables import AlertRow, SystemMetricRow, utcnow
from tests.fakes.net import free_port
from tests.fakes.webhooks import JsonEndpoint
from tests.ops_data import eventually, store, stored_email
from tests.runtime_fixtures import settings_for


async def test_each_threshold_breach_raises_its_alert_once_per_cooldown(
    tmp_path: Path, database_url: str, webhook: JsonEndpoint
) -> None:
    runtime = build_runtime(
        settings_for(
            tmp_path,
            database_url,
            alert_webhook_urls=[webhook.url],
            alert_max_queue_size=0,
            alert_min_success_rate=0.9,
            alert_max_processing_time=20,
            alert_max_memory_percent=0.01,
        )
    )
    recent = utcnow() - timedelta(minutes=10)
    await store(
        runtime.db,
        [stored_email(recent, processing_ms=60_000) for _ in range(4)]
        + [stored_email(recent, status="failed", processing_ms=60_000) for _ in range(2)]
        + [stored_email(recent, status="received")],
    )

    raised = await run_monitoring_cycle(runtime)
    messages = {alert.message for alert in raised}
    assert "Queue size is high: 1" in messages
    assert "Low success rate: 66.67%" in messages
    assert "Slow processing: 60.00s" in messages
    assert any(message.startswith("High memory usage") for message in messages)
    # The engine is not running in this test, so the queue component is degraded: a dependency warning.
    assert "queue is degraded" in messages
    severities = {alert.message: alert.severity for alert in raised}
    assert severities["Low success rate: 66.67%"] == "critical"

    await eventually(lambda: _count_sent(webhook, len(raised)), what="every alert at the webhook")
    await run_monitoring_cycle(runtime)  # the same conditions again: within the cool-down
    await runtime.close()

    assert len(webhook.received) == len(raised)
    assert {body["message"] for body in webhook.received} == messages
    async with runtime.db.transaction() as session:
        occurrences = set(await session.scalars(select(AlertRow.occurrences)))
        samples = await session.scalar(select(func.count()).select_from(SystemMetricRow))
    assert occurrences == {2}
    assert samples == 2


async def _count_sent(webhook: JsonEndpoint, expected: int) -> bool:
    return len(webhook.received) >= expected


async def test_a_healthy_quiet_system_raises_nothing(tmp_path: Path, database_url: str) -> None:
    runtime = build_runtime(
        settings_for(
            tmp_path, database_url, alert_max_memory_percent=100, alert_max_cpu_percent=100, alert_max_disk_percent=100
        )
    )
    runtime.engine.start()  # a running engine: the queue component is healthy
    try:
        raised = await run_monitoring_cycle(runtime)
    finally:
        await runtime.close()
    assert [alert.message for alert in raised] == []


async def test_the_service_runs_the_cycle_on_its_schedule(tmp_path: Path, database_url: str) -> None:
    runtime = build_runtime(settings_for(tmp_path, database_url, monitor_interval_seconds=0.1))
    app = create_app(runtime)

    async def samples() -> int:
        async with runtime.db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(SystemMetricRow)) or 0)

    async def requests_sampled() -> int:
        async with runtime.db.transaction() as session:
            return int(await session.scalar(select(func.sum(SystemMetricRow.api_requests))) or 0)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/health")).status_code == 200
        await eventually(lambda: _at_least(samples, 2), what="two monitoring samples")
        # the /health call above is taken into the next sample
        await eventually(lambda: _at_least(requests_sampled, 1), what="the request in a sample")
    assert await requests_sampled() == 1


async def _at_least(count: Callable[[], Awaitable[int]], minimum: int) -> bool:
    return await count() >= minimum


async def test_a_database_that_is_down_still_reaches_the_webhook(tmp_path: Path, webhook: JsonEndpoint) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/emailbot"
    runtime = build_runtime(settings_for(tmp_path, unreachable, alert_webhook_urls=[webhook.url]))
    try:
        raised = await run_monitoring_cycle(runtime)
        messages = {alert.message for alert in raised}
        assert "API health check failed" in messages
        assert "database is unhealthy" in messages
        assert any(message.startswith("Failed to check processing metrics") for message in messages)
        await eventually(lambda: _count_sent(webhook, len(raised)), what="the alerts, unstored, at the webhook")
        await run_monitoring_cycle(runtime)  # still down: the in-memory cool-down holds the repeats back
    finally:
        await runtime.close()
    assert len(webhook.received) == len(raised)
    assert all(body["id"] is None for body in webhook.received)
