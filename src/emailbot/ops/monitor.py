"""The manual's SystemMonitor: one monitoring cycle checks API health, processing, every dependency, host
resources and security against the configured thresholds, stores a system sample for capacity trends, and raises
an alert for each breach (the sink applies the cool-down and delivers).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from emailbot.analytics.daily import buckets_between
from emailbot.analytics.performance import summarize
from emailbot.ops.alerts import Alert, Severity
from emailbot.ops.metrics import CPU_PERCENT, DISK_PERCENT, MEMORY_PERCENT, STORAGE_BYTES
from emailbot.ops.metrics_feed import queue_size
from emailbot.ops.security import check_security_events
from emailbot.ops.system import Resources, database_bytes, directory_bytes
from emailbot.store.tables import SystemMetricRow, utcnow

if TYPE_CHECKING:
    from emailbot.ops.health import Component
    from emailbot.runtime import Runtime

log = logging.getLogger(__name__)
PROCESSING_WINDOW = timedelta(hours=1)
# A success rate over fewer emails says little: one failure in a quiet hour is not a critical outage.
MIN_EMAILS_FOR_SUCCESS_RATE = 5
SECURITY_SEVERITY: dict[str, Severity] = {"CRITICAL": "critical", "WARNING": "warning"}


async def run_monitoring_cycle(runtime: Runtime) -> list[Alert]:
    """Check everything, store a sample, raise the alerts; returns them (before cool-down) for the caller."""
    from emailbot.ops.health import UNHEALTHY, detailed_health

    status, components = await detailed_health(runtime)
    system = runtime.ops.latest = runtime.ops.sampler.sample(runtime.settings.data_dir)
    alerts = api_health_alerts(status, components)
    alerts += dependency_alerts(components)
    alerts += await _guarded("processing metrics", processing_alerts(runtime))
    alerts += resource_alerts(runtime, system)
    alerts += await _guarded("security events", security_alerts(runtime))
    alerts += await _guarded("system sample", store_sample(runtime, system, healthy=status != UNHEALTHY))
    for alert in alerts:
        await runtime.alerts.raise_alert(alert)
    return alerts


async def _guarded(what: str, check: Awaitable[list[Alert] | None]) -> list[Alert]:
    """A check that fails is itself an alert (the manual's "Failed to check processing metrics")."""
    try:
        return await check or []
    except Exception as exc:  # noqa: BLE001 - the cycle must report what it could not check, not stop
        log.warning("monitoring: %s failed: %s", what, type(exc).__name__)
        message = f"Failed to check {what}: {type(exc).__name__}"
        return [Alert("critical", "Monitoring", message, {"error": str(exc)[:500]}, condition=what)]


def api_health_alerts(status: str, components: dict[str, Component]) -> list[Alert]:
    if status != "unhealthy":
        return []
    details = {name: component.as_dict() for name, component in components.items()}
    return [Alert("critical", "API", "API health check failed", {"status": status, "components": details})]


def dependency_alerts(components: dict[str, Component]) -> list[Alert]:
    alerts = []
    for name, component in components.items():
        if component.status == "healthy":
            continue
        severity: Severity = "critical" if component.status == "unhealthy" else "warning"
        alerts.append(Alert(severity, name, f"{name} is {component.status}", component.as_dict()))
    return alerts


async def processing_alerts(runtime: Runtime) -> list[Alert]:
    settings = runtime.settings
    end = utcnow()
    async with runtime.db.transaction() as session:
        backlog = await queue_size(session)
        recent = summarize(await buckets_between(session, end - PROCESSING_WINDOW, end))
    alerts = []
    if backlog > settings.alert_max_queue_size:
        alerts.append(
            Alert(
                "warning",
                "Processing Queue",
                f"Queue size is high: {backlog}",
                {"queue_size": backlog, "threshold": settings.alert_max_queue_size},
                condition="queue_size",
            )
        )
    stats = _window_stats(recent)
    rate = recent.success_rate
    if rate is not None and recent.processed >= MIN_EMAILS_FOR_SUCCESS_RATE and rate < settings.alert_min_success_rate:
        alerts.append(
            Alert(
                "critical",
                "Processing",
                f"Low success rate: {rate:.2%}",
                stats | {"threshold": settings.alert_min_success_rate},
                condition="success_rate",
            )
        )
    average = recent.average_processing_time
    if average is not None and average > settings.alert_max_processing_time:
        alerts.append(
            Alert(
                "warning",
                "Performance",
                f"Slow processing: {average:.2f}s",
                {"avg_processing_time": average, "threshold": settings.alert_max_processing_time},
                condition="processing_time",
            )
        )
    return alerts


def _window_stats(summary: Any) -> dict[str, Any]:
    return {
        "window_minutes": int(PROCESSING_WINDOW.total_seconds() // 60),
        "total_processed": summary.processed,
        "failed": summary.failed,
        "success_rate": summary.success_rate,
        "average_processing_time": summary.average_processing_time,
    }


def resource_alerts(runtime: Runtime, system: Resources) -> list[Alert]:
    settings = runtime.settings
    cpu_was_over = runtime.ops.cpu_over_limit
    runtime.ops.cpu_over_limit = system.cpu_percent > settings.alert_max_cpu_percent
    checks = [
        ("memory", "memory", system.memory_percent, settings.alert_max_memory_percent),
        ("disk", "disk", system.disk_percent, settings.alert_max_disk_percent),
    ]
    if cpu_was_over:  # sustained over two cycles, see OpsState.cpu_over_limit
        checks.insert(0, ("cpu", "CPU", system.cpu_percent, settings.alert_max_cpu_percent))
    return [
        Alert(
            "warning",
            "Resources",
            f"High {label} usage: {value:.1f}%",
            {"resource": name, "usage_percent": value, "threshold": limit},
            condition=name,
        )
        for name, label, value, limit in checks
        if value > limit
    ]


async def security_alerts(runtime: Runtime) -> list[Alert]:
    async with runtime.db.transaction() as session:
        report = await check_security_events(session, runtime.settings, hours=1, history=runtime.ops.clients)
    return [
        Alert(
            SECURITY_SEVERITY[event["severity"]],
            "Security",
            event["message"],
            event["details"],
            condition=event["type"],
        )
        for event in report["events"]
        if event["severity"] in ("CRITICAL", "WARNING")
    ]


async def store_sample(runtime: Runtime, system: Resources, *, healthy: bool) -> None:
    """One row per cycle: what capacity trends and availability are computed from; also brings the email
    counters of /metrics up to date."""
    traffic = runtime.ops.traffic.take()
    async with runtime.db.transaction() as session:
        storage = await database_bytes(session, runtime.settings.database_url)
        storage += await directory_bytes(runtime.settings.local_mailbox_dir)
        backlog = await queue_size(session)
        session.add(
            SystemMetricRow(
                at=utcnow(),
                healthy=healthy,
                cpu_percent=system.cpu_percent,
                memory_percent=system.memory_percent,
                disk_percent=system.disk_percent,
                disk_free_bytes=system.disk_free_bytes,
                storage_bytes=storage,
                queue_size=backlog,
                api_requests=traffic.requests,
                api_errors=traffic.errors,
                api_response_ms_sum=traffic.response_ms_sum,
            )
        )
    async with runtime.db.transaction() as session:
        await runtime.ops.feed.refresh(session)
    for gauge, value in (
        (CPU_PERCENT, system.cpu_percent),
        (MEMORY_PERCENT, system.memory_percent),
        (DISK_PERCENT, system.disk_percent),
        (STORAGE_BYTES, storage),
    ):
        gauge.set(value)
