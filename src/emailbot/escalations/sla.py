"""SLA tracking: each urgency has a target time to resolution; an escalation is at risk from a share of it on.

A resolved escalation keeps the status it finished with (within target or breached). A periodic check raises one
alert per newly breached escalation; the claim on `sla_alerted_at` makes that once even with several workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from emailbot.ops.alerts import Alert, AlertSink
from emailbot.settings import DEFAULT_SLA_MINUTES, Settings
from emailbot.store.db import Database
from emailbot.store.tables import EscalationRow, utcnow

log = logging.getLogger(__name__)
WITHIN_TARGET, AT_RISK, BREACHED = "within_target", "at_risk", "breached"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    minutes: dict[str, float]
    at_risk: float = 0.8

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        return cls(dict(settings.escalation_sla_minutes), settings.escalation_sla_at_risk)

    def target(self, urgency: str) -> timedelta:
        minutes = self.minutes.get(urgency.upper(), self.minutes.get("MEDIUM", DEFAULT_SLA_MINUTES["MEDIUM"]))
        return timedelta(minutes=minutes)

    def due_at(self, created_at: datetime, urgency: str) -> datetime:
        return created_at + self.target(urgency)

    def status(self, created_at: datetime, urgency: str, resolved_at: datetime | None, now: datetime) -> str:
        elapsed = (resolved_at or now) - created_at
        target = self.target(urgency)
        if elapsed > target:
            return BREACHED
        if resolved_at is None and elapsed >= target * self.at_risk:
            return AT_RISK
        return WITHIN_TARGET


class SlaMonitor:
    def __init__(self, db: Database, policy: SlaPolicy, alerts: Callable[[], AlertSink]) -> None:
        self.db = db
        self.policy = policy
        self.alerts = alerts

    async def check_once(self, now: datetime | None = None) -> int:
        """Alert on every active escalation that breached its target since the last check; returns how many."""
        now = now or utcnow()
        raised = 0
        for row in await self._newly_breached(now):
            if await self._claim(row.id, now):
                await self.alerts().raise_alert(self._alert(row, now))
                raised += 1
        return raised

    async def _newly_breached(self, now: datetime) -> list[EscalationRow]:
        late = [
            and_(EscalationRow.urgency == urgency, EscalationRow.created_at < now - self.policy.target(urgency))
            for urgency in self.policy.minutes
        ]
        known = list(self.policy.minutes)
        fallback = now - self.policy.target("MEDIUM")
        late.append(and_(EscalationRow.urgency.not_in(known), EscalationRow.created_at < fallback))
        async with self.db.transaction() as session:
            rows = await session.scalars(
                select(EscalationRow).where(
                    EscalationRow.status == "active", EscalationRow.sla_alerted_at.is_(None), or_(*late)
                )
            )
            return list(rows)

    async def _claim(self, escalation_id: int, now: datetime) -> bool:
        async with self.db.transaction() as session:
            result = await session.execute(
                update(EscalationRow)
                .where(EscalationRow.id == escalation_id, EscalationRow.sla_alerted_at.is_(None))
                .values(sla_alerted_at=now)
            )
        return bool(getattr(result, "rowcount", 0))

    def _alert(self, row: EscalationRow, now: datetime) -> Alert:
        target = self.policy.target(row.urgency)
        overdue = now - (row.created_at + target)
        return Alert(
            "critical" if row.urgency in ("CRITICAL", "HIGH") else "warning",
            "escalations",
            f"escalation {row.id} breached its SLA",
            {
                "escalation_id": row.id,
                "name": row.name,
                "urgency": row.urgency,
                "target_minutes": target.total_seconds() / 60,
                "overdue_minutes": round(overdue.total_seconds() / 60, 1),
            },
        )
