"""The monitoring cycle: every check against its threshold, alerts through the real sink, samples stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from emailbot.api.app import create_app
from emailbot.ops.monitor import run_monitoring_cycle
from emailbot.runtime import Runtime, build_runtime
from emailbot.settings import Settings
from emailbot.store.tables import AlertRow, SystemMetricRow, utcnow
from tests.fakes.net import free_port
from tests.fakes.webhooks import JsonEndpoint
from tests.ops_data import FixedSampler, eventually, store, stored_email
from tests.runtime_fixtures import settings_for


def monitored(settings: Settings, sampler: FixedSampler | None = None) -> Runtime:
    """A runtime whose resource readings are the test's, not the machine's (which depend on its load)."""
    runtime = build_runtime(settings)
    runtime.ops.sampler = sampler or FixedSampler()
    return runtime


async def test_each_threshold_breach_raises_its_alert_once_per_cooldown(
    tmp_path: Path, database_url: str, webhook: JsonEndpoint
) -> None:
    runtime = monitored(
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
    runtime = monitored(
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
    runtime = monitored(settings_for(tmp_path, database_url, monitor_interval_seconds=0.1))
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
    runtime = monitored(settings_for(tmp_path, unreachable, alert_webhook_urls=[webhook.url]))
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


async def test_cpu_alerts_only_when_two_cycles_in_a_row_are_over_the_limit(tmp_path: Path, database_url: str) -> None:
    """The first cycle after start measures the start-up itself (the model training): one busy reading is not
    a resource problem, a busy machine over two monitoring intervals is."""
    sampler = FixedSampler(cpu_percent=99.7)
    runtime = monitored(settings_for(tmp_path, database_url, alert_max_cpu_percent=80), sampler)
    runtime.engine.start()
    try:
        first = await run_monitoring_cycle(runtime)
        second = await run_monitoring_cycle(runtime)
        sampler.cpu_percent = 20.0
        third = await run_monitoring_cycle(runtime)
        sampler.cpu_percent = 99.0
        fourth = await run_monitoring_cycle(runtime)
    finally:
        await runtime.close()
    cpu = [
        [alert.message for alert in cycle if alert.message.startswith("High CPU")]
        for cycle in (first, second, third, fourth)
    ]
    assert cpu == [[], ["High CPU usage: 99.7%"], [], []]


def test_the_host_sampler_reads_this_machine(tmp_path: Path) -> None:
    from emailbot.ops.system import HostSampler

    sampler = HostSampler()
    sum(range(200_000))  # some CPU time between the readings
    reading = sampler.sample(tmp_path)
    assert 0.0 <= reading.cpu_percent <= 100.0
    assert 0.0 < reading.memory_percent < 100.0
    assert reading.disk_free_bytes > 0


async def test_kpis_show_the_cycles_reading_without_restarting_its_cpu_window(
    tmp_path: Path, database_url: str
) -> None:
    sampler = FixedSampler(cpu_percent=12.0)
    runtime = monitored(settings_for(tmp_path, database_url), sampler)
    try:
        assert runtime.ops.resources(tmp_path).cpu_percent == 12.0  # before any cycle: a reading of its own
        await run_monitoring_cycle(runtime)
        sampler.cpu_percent = 77.0
        assert runtime.ops.resources(tmp_path).cpu_percent == 12.0  # the cycle's reading, not a new one
    finally:
        await runtime.close()
