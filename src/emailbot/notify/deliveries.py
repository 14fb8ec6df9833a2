"""The record of every notification: one row per notice and target, and each target's enabled state.

Like a mail server's queue log: an operator can always see what was sent where, what failed and why, and a
retry of a notice that already reached a target is answered from the record instead of being sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select

from emailbot.ops.alerts import AlertSink
from emailbot.store.db import Database
from emailbot.store.tables import EscalationRow, NotificationDeliveryRow, NotificationTargetRow, utcnow

DELIVERED, FAILED, SKIPPED, PARTIAL = "delivered", "failed", "skipped", "partial"
AlertsProvider = Callable[[], AlertSink]  # the runtime's sink as it is when the alert is raised


class Closer(Protocol):
    async def aclose(self) -> None: ...


@dataclass
class Delivery:
    """What one attempt to reach one target came to."""

    status: str
    attempts: int = 0
    http_status: int | None = None
    error: str | None = None
    reference: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class DeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def delivered(self, key: str, target: str) -> str | None:
        """The reference of an earlier successful delivery of this notice to this target, if any."""
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(NotificationDeliveryRow).where(
                    NotificationDeliveryRow.idempotency_key == key, NotificationDeliveryRow.target == target
                )
            )
        if row is not None and row.status in (DELIVERED, PARTIAL):
            return row.reference or ""
        return None

    async def record(self, key: str, target: str, kind: str, escalation_id: int, delivery: Delivery) -> None:
        async with self.db.transaction() as session:
            row = await session.scalar(
                select(NotificationDeliveryRow).where(
                    NotificationDeliveryRow.idempotency_key == key, NotificationDeliveryRow.target == target
                )
            )
            if row is None:
                row = NotificationDeliveryRow(idempotency_key=key, target=target, kind=kind, attempts=0)
                session.add(row)
            row.escalation_id = escalation_id
            row.status = delivery.status
            row.http_status = delivery.http_status
            row.error = delivery.error
            row.attempts = (row.attempts or 0) + delivery.attempts
            row.reference = delivery.reference
            row.details = delivery.details
            row.updated_at = utcnow()

    async def chat_of(self, escalation_id: int) -> str | None:
        """The Teams chat of an escalation, for a Workflows webhook that posts into it."""
        async with self.db.transaction() as session:
            row = await session.get(EscalationRow, escalation_id)
        return row.chat_id if row else None

    async def is_disabled(self, target: str) -> bool:
        async with self.db.transaction() as session:
            row = await session.get(NotificationTargetRow, target)
        return bool(row and row.disabled)

    async def disable(self, target: str, kind: str, reason: str) -> bool:
        """Disable a target; returns False when it already was (so the alert is raised once)."""
        async with self.db.transaction() as session:
            row = await session.get(NotificationTargetRow, target)
            if row is None:
                row = NotificationTargetRow(name=target, kind=kind)
                session.add(row)
            elif row.disabled:
                return False
            row.disabled, row.disabled_reason, row.disabled_at, row.updated_at = True, reason, utcnow(), utcnow()
        return True

    async def enable(self, target: str) -> None:
        async with self.db.transaction() as session:
            row = await session.get(NotificationTargetRow, target)
            if row is not None:
                row.disabled, row.disabled_reason, row.disabled_at, row.updated_at = False, None, None, utcnow()
