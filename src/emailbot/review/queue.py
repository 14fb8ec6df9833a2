"""The review queue: drafts waiting for approval and emails flagged for a person, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Status
from emailbot.review.feedback import CLOSING
from emailbot.store.tables import EmailRow, FeedbackRow, ProcessingResultRow

REVIEWABLE = (Action.SUGGEST_RESPONSE.value, Action.HUMAN_REVIEW.value)


@dataclass(frozen=True, slots=True)
class QueueItem:
    id: int
    subject: str
    sender: str | None
    sender_name: str
    received_datetime: datetime
    action: str
    reason: str | None
    category: str | None
    confidence: float | None
    has_draft: bool
    assigned_to: str | None = None


def _waiting() -> list[object]:
    closed = exists().where(
        and_(FeedbackRow.email_id == EmailRow.id, FeedbackRow.kind.in_([kind.value for kind in CLOSING]))
    )
    return [
        ProcessingResultRow.status == Status.COMPLETED.value,
        ProcessingResultRow.action.in_(REVIEWABLE),
        ProcessingResultRow.response_sent.is_(False),
        ~closed,
        ProcessingResultRow.shadow.is_(False),  # what shadow mode would have asked of people is not their work
    ]


async def review_queue(
    session: AsyncSession, *, limit: int = 50, offset: int = 0, assigned_to: str | None = None
) -> tuple[list[QueueItem], int]:
    """`assigned_to`: only that person's emails (those of the conversations they answered); "" for unassigned."""
    base = select(EmailRow, ProcessingResultRow).join(ProcessingResultRow).where(*_waiting())  # type: ignore[arg-type]
    if assigned_to is not None:
        base = base.where(
            ProcessingResultRow.assigned_to == assigned_to if assigned_to else ProcessingResultRow.assigned_to.is_(None)
        )
    total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = await session.execute(base.order_by(EmailRow.received_datetime, EmailRow.id).offset(offset).limit(limit))
    items = [
        QueueItem(
            id=email.id,
            subject=email.subject,
            sender=email.sender,
            sender_name=email.sender_name,
            received_datetime=email.received_datetime,
            action=result.action or "",
            reason=result.reason,
            category=result.category,
            confidence=result.confidence,
            has_draft=result.response_text is not None,
            assigned_to=result.assigned_to,
        )
        for email, result in rows
    ]
    return items, total
