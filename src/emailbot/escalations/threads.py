"""One conversation per thread: a later email of an escalated thread joins the escalation instead of opening one.

An escalation stores its thread's root id (the parser's thread_id: the first References id, else the parent, else
the message itself); a new email belongs to it when its thread id, parent or any reference is that root.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Email
from emailbot.store.tables import EscalationRow

ACTIVE = "active"


def thread_keys(email: Email) -> set[str]:
    return {key for key in (email.thread_id, email.in_reply_to, *email.references) if key}


async def active_escalations_by_email(session: AsyncSession, emails: Mapping[int, Email]) -> dict[int, int]:
    """email id -> the active escalation of its thread, for the emails that have one (one query per batch)."""
    keys = {email_id: thread_keys(email) for email_id, email in emails.items()}
    wanted = set().union(*keys.values()) if keys else set()
    if not wanted:
        return {}
    rows = await session.execute(
        select(EscalationRow.id, EscalationRow.thread_id)
        .where(EscalationRow.status == ACTIVE, EscalationRow.thread_id.in_(wanted))
        .order_by(EscalationRow.id)
    )
    by_thread = {thread: escalation_id for escalation_id, thread in rows}  # the newest one wins
    found: dict[int, int] = {}
    for email_id, email_keys in keys.items():
        matches = [by_thread[key] for key in email_keys if key in by_thread]
        if matches:
            found[email_id] = max(matches)
    return found


async def count_follow_up(session: AsyncSession, escalation_id: int) -> None:
    await session.execute(
        update(EscalationRow).where(EscalationRow.id == escalation_id).values(follow_ups=EscalationRow.follow_ups + 1)
    )
