"""The SQL of pulling an email back from noise (see emailbot.review.noise)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Status
from emailbot.store.tables import ProcessingResultRow, SideEffectRow, utcnow
from emailbot.store.work import _insert


async def requeue_for_review(session: AsyncSession, result: ProcessingResultRow, key: str, reason: str) -> None:
    """Make the email a HUMAN_REVIEW and plan its flag as a pending mark effect under `key`.

    The processing row goes back to `responding`, so whoever claims it next (the request, a worker, or the
    sweeper after a crash) carries out the flag, once: a second insert under the same key does nothing.
    """
    effect = {
        "idempotency_key": key,
        "email_id": result.email_id,
        "kind": "mark",
        "status": "pending",
        "payload": {"category": result.category or "", "flagged": True},
        "attempts": 0,
        "created_at": utcnow(),
    }
    await session.execute(_insert(session, SideEffectRow), [effect])
    await session.execute(
        update(ProcessingResultRow)
        .where(ProcessingResultRow.id == result.id)
        .values(
            action=Action.HUMAN_REVIEW.value,
            reason=reason,
            noise="",
            status=Status.RESPONDING.value,
            attempts=0,
            error=None,
            lease_until=None,
            next_attempt_at=utcnow(),
        )
    )
