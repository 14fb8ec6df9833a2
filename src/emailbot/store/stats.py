"""Aggregate queries behind /process/status and the CLI's status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Status
from emailbot.store.tables import FeedbackRow, ProcessingResultRow, utcnow
from emailbot.store.work import FINAL


@dataclass(frozen=True, slots=True)
class ProcessingStats:
    total_processed: int
    completed: int
    failed: int
    average_processing_time: float | None  # seconds
    last_processing: datetime | None
    processed_today: int
    backlog: int
    classification_accuracy: float | None

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.total_processed if self.total_processed else None


async def processing_stats(session: AsyncSession) -> ProcessingStats:
    result = ProcessingResultRow
    midnight = datetime.combine(utcnow().date(), time.min, tzinfo=utcnow().tzinfo)
    row = (
        await session.execute(
            select(
                func.count(case((result.status == Status.COMPLETED.value, 1))),
                func.count(case((result.status == Status.FAILED.value, 1))),
                func.avg(case((result.status == Status.COMPLETED.value, result.processing_time_ms))),
                func.max(result.completed_at),
                func.count(case((result.completed_at >= midnight, 1))),
                func.count(case((result.status.not_in(FINAL), 1))),
            )
        )
    ).one()
    completed, failed, average_ms, last, today, backlog = row
    return ProcessingStats(
        total_processed=completed + failed,
        completed=completed,
        failed=failed,
        average_processing_time=round(average_ms / 1000, 4) if average_ms is not None else None,
        last_processing=last,
        processed_today=today,
        backlog=backlog,
        classification_accuracy=await classification_accuracy(session),
    )


async def classification_accuracy(session: AsyncSession) -> float | None:
    """Share of reviewed emails whose category a person confirmed rather than corrected; None before feedback."""
    reviewed = func.count(func.distinct(FeedbackRow.email_id))
    corrected = func.count(func.distinct(case((FeedbackRow.kind == "category_corrected", FeedbackRow.email_id))))
    total, wrong = (await session.execute(select(reviewed, corrected))).one()
    return round(1 - wrong / total, 4) if total else None
