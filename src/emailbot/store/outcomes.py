"""What the pipeline did with every stored email, read in one pass (replay reports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.store.tables import EmailRow, ProcessingResultRow


@dataclass(frozen=True, slots=True)
class Outcome:
    email_id: int
    source_id: str
    message_id: str | None
    subject: str
    sender: str | None
    status: str
    action: str | None
    reason: str | None
    category: str | None
    confidence: float | None
    response_text: str | None
    parse_error: str | None
    conversation_id: int | None


async def all_outcomes(session: AsyncSession, page: int = 1000) -> AsyncIterator[Outcome]:
    """Every email with its processing result, by id, read page by page."""
    last = 0
    while True:
        rows = await session.execute(
            select(EmailRow, ProcessingResultRow)
            .join(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
            .where(EmailRow.id > last)
            .order_by(EmailRow.id)
            .limit(page)
        )
        batch = [_outcome(email, result) for email, result in rows]
        for outcome in batch:
            yield outcome
        if len(batch) < page:
            return
        last = batch[-1].email_id


def _outcome(email: EmailRow, result: ProcessingResultRow) -> Outcome:
    return Outcome(
        email_id=email.id,
        source_id=email.source_id,
        message_id=email.message_id,
        subject=email.subject,
        sender=email.sender,
        status=result.status,
        action=result.action,
        reason=result.reason,
        category=result.category,
        confidence=result.confidence,
        response_text=result.response_text,
        parse_error=email.parse_error,
        conversation_id=email.conversation_id,
    )
