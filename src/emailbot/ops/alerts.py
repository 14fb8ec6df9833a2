"""Alerts: something an operator must know about (a breached SLA, a disabled webhook, a failing dependency).

Any part of EmailBot raises an alert through the runtime's `AlertSink`; the sink decides where it goes (the log,
the database, webhooks) and how often (cool-downs). The parts that raise alerts never know.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Severity = Literal["info", "warning", "critical"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    severity: Severity
    component: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Alerts with the same key are the same condition: a cool-down applies per key."""
        return f"{self.component}:{self.message}"


class AlertSink(Protocol):
    async def raise_alert(self, alert: Alert) -> None: ...


class LogAlertSink:
    """The sink when nothing else is configured: a warning line per alert, details kept out of the message."""

    async def raise_alert(self, alert: Alert) -> None:
        log.warning("alert %s %s: %s", alert.severity, alert.component, alert.message)
