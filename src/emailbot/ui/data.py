"""What each dashboard page shows, one small function per page, reading the tables directly.

Escalations, patterns and alerts are produced by other parts of EmailBot; each page's reading lives in one
function here so that it can follow those parts when they change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action
from emailbot.store.tables import (
    AlertRow,
    EmailPatternRow,
    EmailRow,
    EscalationRow,
    FeedbackRow,
    ProcessingResultRow,
    utcnow,
)

OVERVIEW_DAYS = 14
CONFIDENCE_BINS = 10
TIME_BUCKETS = ((0.1, "< 0.1 s"), (0.5, "0.1–0.5 s"), (1.0, "0.5–1 s"), (5.0, "1–5 s"), (float("inf"), "≥ 5 s"))


@dataclass
class Overview:
    days: list[str] = field(default_factory=list)
    volume: list[int] = field(default_factory=list)
    automation: list[float] = field(default_factory=list)
    confidence: list[int] = field(default_factory=lambda: [0] * CONFIDENCE_BINS)
    categories: list[tuple[str, int]] = field(default_factory=list)
    actions: list[tuple[str, int]] = field(default_factory=list)
    processing_time: list[tuple[str, int]] = field(default_factory=list)
    total: int = 0
    automation_rate: float | None = None


async def overview(session: AsyncSession, now: datetime | None = None) -> Overview:
    """Volume, automation rate, confidence, categories and processing time over the last two weeks."""
    now = now or utcnow()
    since = (now - timedelta(days=OVERVIEW_DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        await session.execute(
            select(
                EmailRow.received_datetime,
                ProcessingResultRow.action,
                ProcessingResultRow.category,
                ProcessingResultRow.confidence,
                ProcessingResultRow.processing_time_ms,
            )
            .join(ProcessingResultRow)
            .where(EmailRow.received_datetime >= since)
            .limit(100_000)
        )
    ).all()
    days = [(since + timedelta(days=n)).date() for n in range(OVERVIEW_DAYS)]
    volume: Counter[Any] = Counter()
    automated: Counter[Any] = Counter()
    result = Overview(days=[day.strftime("%m-%d") for day in days])
    categories: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    times: Counter[str] = Counter()
    for received, action, category, confidence, time_ms in rows:
        day = received.date()
        volume[day] += 1
        automated[day] += action == Action.AUTO_HANDLE.value
        categories[category or "unclassified"] += 1
        actions[action or "pending"] += 1
        if confidence is not None:
            result.confidence[min(int(confidence // 10), CONFIDENCE_BINS - 1)] += 1
        if time_ms is not None:
            times[next(label for limit, label in TIME_BUCKETS if time_ms / 1000 < limit)] += 1
    result.volume = [volume[day] for day in days]
    result.automation = [round(100 * automated[day] / volume[day], 1) if volume[day] else 0.0 for day in days]
    result.categories = categories.most_common()
    result.actions = actions.most_common()
    result.processing_time = [(label, times[label]) for _, label in TIME_BUCKETS]
    result.total = len(rows)
    result.automation_rate = round(sum(automated.values()) / len(rows), 4) if rows else None
    return result


async def escalations(session: AsyncSession, status: str | None = None) -> list[EscalationRow]:
    query = select(EscalationRow).order_by(EscalationRow.status, EscalationRow.created_at.desc()).limit(200)
    if status:
        query = query.where(EscalationRow.status == status)
    return list(await session.scalars(query))


async def patterns(session: AsyncSession) -> list[EmailPatternRow]:
    query = select(EmailPatternRow).order_by(EmailPatternRow.frequency.desc(), EmailPatternRow.id).limit(200)
    return list(await session.scalars(query))


async def alerts(session: AsyncSession) -> list[AlertRow]:
    """The most recent alerts, newest first."""
    return list(await session.scalars(select(AlertRow).order_by(AlertRow.created_at.desc()).limit(200)))


async def thread(session: AsyncSession, email: dict[str, Any]) -> list[EmailRow]:
    """The other emails of the same conversation, oldest first."""
    if not email.get("thread_id"):
        return []
    query = (
        select(EmailRow)
        .where(EmailRow.thread_id == email["thread_id"], EmailRow.id != email["id"])
        .order_by(EmailRow.received_datetime)
        .limit(50)
    )
    return list(await session.scalars(query))


async def reviews(session: AsyncSession, email_id: int) -> list[FeedbackRow]:
    """What people did with this email, oldest first."""
    query = select(FeedbackRow).where(FeedbackRow.email_id == email_id).order_by(FeedbackRow.id)
    return list(await session.scalars(query))
