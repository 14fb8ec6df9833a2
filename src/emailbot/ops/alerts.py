"""Alerts: something an operator must know about (a breached SLA, a disabled webhook, a failing dependency).

Any part of EmailBot raises an alert through the runtime's `AlertSink`; the sink decides where it goes (the log,
the database, webhooks) and how often (cool-downs). The parts that raise alerts never know.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.ops.alert_delivery import Deliver, post_to_webhooks
from emailbot.ops.metrics import ALERT_DELIVERIES, ALERTS_RAISED
from emailbot.store.db import Database
from emailbot.store.tables import AlertRow, utcnow

Severity = Literal["info", "warning", "critical"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    severity: Severity
    component: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    # Set when the message carries a changing number ("Queue size is high: 1204"), so repeats share a cool-down.
    condition: str = ""

    @property
    def key(self) -> str:
        """Alerts with the same key are the same condition: a cool-down applies per key."""
        return f"{self.component}:{self.condition or self.message}"


class AlertSink(Protocol):
    async def raise_alert(self, alert: Alert) -> None: ...


class LogAlertSink:
    """The sink when nothing else is configured: a warning line per alert, details kept out of the message."""

    async def raise_alert(self, alert: Alert) -> None:
        log.warning("alert %s %s: %s", alert.severity, alert.component, alert.message)


class StoredAlertSink:
    """The real sink: every alert is stored (`GET /alerts`) and sent to the configured webhooks.

    The same alert (same key) raised again within the cool-down after it was sent is not sent again: the stored
    alert counts the repeat instead. Delivery runs in the background so that raising an alert never waits on a
    slow webhook; its outcome is written back to the stored alert.
    """

    def __init__(
        self,
        db: Database,
        *,
        cooldown_seconds: float,
        webhook_urls: Sequence[str],
        deliver: Deliver = post_to_webhooks,
    ) -> None:
        self.db = db
        self.cooldown = timedelta(seconds=cooldown_seconds)
        self.webhook_urls = list(webhook_urls)
        self.deliver = deliver
        self._lock = asyncio.Lock()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._sent_unstored: dict[str, datetime] = {}

    async def raise_alert(self, alert: Alert) -> None:
        try:
            async with self._lock, self.db.transaction() as session:
                row = await _record(session, alert, self.cooldown)
        except Exception:  # noqa: BLE001 - the database may be what is down: the webhook must still hear of it
            log.exception("alert could not be stored; sending it anyway")
            await self._send_unstored(alert)
            return
        if row is None:
            return
        ALERTS_RAISED.labels(alert.severity, alert.component).inc()
        log.warning("alert %s %s: %s (alert %d)", alert.severity, alert.component, alert.message, row.id)
        self._in_background(self._deliver(row.id, alert_payload(row)))

    async def _send_unstored(self, alert: Alert) -> None:
        """Without the database the cool-down is kept in memory, so a down database is not reported every cycle."""
        now = utcnow()
        if now - self._sent_unstored.get(alert.key, now - self.cooldown * 2) < self.cooldown:
            return
        self._sent_unstored[alert.key] = now
        ALERTS_RAISED.labels(alert.severity, alert.component).inc()
        payload = {
            "id": None,
            "severity": alert.severity.upper(),
            "component": alert.component,
            "message": alert.message,
            "details": jsonable(alert.details),
            "timestamp": now.isoformat(),
            "service": "EmailBot",
        }
        self._in_background(self._deliver(None, payload))

    def _in_background(self, delivery: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(delivery)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, alert_id: int | None, payload: dict[str, Any]) -> None:
        if not self.webhook_urls:
            status, error = "not_configured", None
        else:
            error = await self.deliver(self.webhook_urls, payload)
            status = "failed" if error else "delivered"
        ALERT_DELIVERIES.labels(status).inc()
        if alert_id is None:
            return
        async with self.db.transaction() as session:
            await session.execute(
                update(AlertRow).where(AlertRow.id == alert_id).values(delivery_status=status, delivery_error=error)
            )

    async def close(self, timeout: float = 10) -> None:
        """Let deliveries under way finish (bounded), so a shutdown does not drop a critical alert silently."""
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=timeout)


async def _record(session: AsyncSession, alert: Alert, cooldown: timedelta) -> AlertRow | None:
    """Store a new alert and return it, or count a repeat within the cool-down and return None.

    A resolved alert does not hold back its condition's return: that is news again.
    """
    now = utcnow()
    recent = await session.scalar(
        select(AlertRow)
        .where(AlertRow.key == alert.key[:500], AlertRow.created_at > now - cooldown, AlertRow.status != "resolved")
        .order_by(AlertRow.created_at.desc())
        .limit(1)
    )
    if recent is not None:
        recent.occurrences += 1
        recent.last_seen_at = now
        return None
    row = AlertRow(
        key=alert.key[:500],
        severity=alert.severity,
        component=alert.component,
        message=alert.message,
        details=jsonable(alert.details),
        created_at=now,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def alert_payload(row: AlertRow) -> dict[str, Any]:
    """An alert as the API shows it and the webhooks receive it (severity in capitals, as in the manual)."""
    return {
        "id": row.id,
        "severity": row.severity.upper(),
        "component": row.component,
        "message": row.message,
        "details": row.details,
        "status": row.status,
        "occurrences": row.occurrences,
        "timestamp": row.created_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "acknowledged_at": row.acknowledged_at.isoformat() if row.acknowledged_at else None,
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "delivery_status": row.delivery_status,
        "delivery_error": row.delivery_error,
        "service": "EmailBot",
    }


def jsonable(details: dict[str, Any]) -> dict[str, Any]:
    """Details can hold datetimes or other values JSON lacks; stored and sent as their text."""
    result: dict[str, Any] = json.loads(json.dumps(details, default=str))
    return result
