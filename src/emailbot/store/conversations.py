"""Conversations: which emails thread together, what EmailBot already answered in them and who handles them.

An email belongs to the conversation that any of its ids names: its Message-ID, In-Reply-To, References (the
same keys the escalation thread lookup uses), the connector's conversation id, or the planned Message-ID of a
reply EmailBot wrote in it. Message ids rather than subjects, so "Re: printer" renamed to "still broken" stays in
its conversation and two unrelated "Hello" mails do not merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Email, Status
from emailbot.escalations.threads import thread_keys
from emailbot.review.feedback import FeedbackKind
from emailbot.store.tables import (
    ConversationKeyRow,
    ConversationRow,
    EmailRow,
    FeedbackRow,
    ProcessingResultRow,
    utcnow,
)
from emailbot.store.work import _insert

CONNECTOR_PREFIX = "conv:"
KEY_LENGTH = 998
# A person answered the email: the conversation is theirs from then on.
ANSWERING = (FeedbackKind.DRAFT_APPROVED.value, FeedbackKind.DRAFT_EDITED.value, FeedbackKind.REPLY_WRITTEN.value)
VIEW_LIMIT = 50


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What routing needs to know about an email's conversation, from the emails before it."""

    id: int
    auto_replies: int = 0
    auto_reply_email_id: int | None = None  # the latest email EmailBot answered automatically
    handled_by: str | None = None  # the latest person who answered in it


def conversation_keys(email: Email) -> set[str]:
    keys = thread_keys(email) | ({email.message_id} if email.message_id else set())
    if email.source_conversation_id:
        keys.add(CONNECTOR_PREFIX + email.source_conversation_id)
    return {key[:KEY_LENGTH] for key in keys}


async def place(session: AsyncSession, emails: Mapping[int, Email]) -> dict[int, int]:
    """email id -> its conversation id, creating conversations and recording new keys; placing again is a no-op.

    Emails are placed oldest first, so an answer that arrives in the same batch as its original joins it.
    When an email's ids name two conversations, it joins the older one (they are not merged).
    """
    if not emails:
        return {}
    rows = await session.execute(select(EmailRow.id, EmailRow.conversation_id).where(EmailRow.id.in_(list(emails))))
    stored = {email_id: conversation for email_id, conversation in rows}
    keys = {email_id: conversation_keys(email) for email_id, email in emails.items()}
    known = await _known_keys(session, set().union(*keys.values()))
    new_keys: dict[str, int] = {}
    placed: dict[int, int] = {}
    fresh = 0  # new conversations get ids -1, -2, ... here and their real ids in one insert below
    for email_id in sorted(emails, key=lambda i: (emails[i].received_at, i)):
        found = [known[key] for key in keys[email_id] if key in known]
        conversation_id = stored.get(email_id) or (_oldest(found) if found else None)
        if conversation_id is None:
            fresh += 1
            conversation_id = -fresh
        for key in keys[email_id] - known.keys():
            known[key] = new_keys[key] = conversation_id
        placed[email_id] = conversation_id
    real = await _new_conversations(session, fresh)
    placed = {email_id: real.get(c, c) for email_id, c in placed.items()}
    await _add_keys(session, {key: real.get(c, c) for key, c in new_keys.items()})
    changed = [{"row_id": i, "conversation": c} for i, c in placed.items() if stored.get(i) != c]
    if changed:  # one executemany, not a statement per email
        table = cast(Table, EmailRow.__table__)
        statement = (
            update(table).where(table.c.id == bindparam("row_id")).values(conversation_id=bindparam("conversation"))
        )
        await session.execute(statement, changed)
    return placed


async def remember_replies(session: AsyncSession, replies: Iterable[tuple[int, str]]) -> None:
    """Record the planned Message-IDs of replies (email id, Message-ID) as keys of the emails' conversations."""
    wanted = dict(replies)
    if not wanted:
        return
    rows = await session.execute(
        select(EmailRow.id, EmailRow.conversation_id).where(
            EmailRow.id.in_(list(wanted)), EmailRow.conversation_id.is_not(None)
        )
    )
    found = {wanted[email_id][:KEY_LENGTH]: conversation for email_id, conversation in rows if conversation}
    await _add_keys(session, found)


async def states(session: AsyncSession, placed: Mapping[int, int]) -> dict[int, ConversationState]:
    """conversation id -> its state from the emails outside `placed` (those are being routed right now)."""
    ids = set(placed.values())
    if not ids:
        return {}
    automatic = await session.execute(
        select(EmailRow.conversation_id, func.count(), func.max(EmailRow.id))
        .join(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
        .where(
            EmailRow.conversation_id.in_(ids),
            EmailRow.id.not_in(list(placed)),
            ProcessingResultRow.action == Action.AUTO_HANDLE.value,
            ProcessingResultRow.status != Status.FAILED.value,
        )
        .group_by(EmailRow.conversation_id)
    )
    counts = {conversation: (count, last) for conversation, count, last in automatic}
    people = await _answered_by(session, ids)
    return {
        conversation: ConversationState(
            id=conversation,
            auto_replies=counts.get(conversation, (0, None))[0],
            auto_reply_email_id=counts.get(conversation, (0, None))[1],
            handled_by=people.get(conversation),
        )
        for conversation in ids
    }


async def view(session: AsyncSession, email_id: int) -> dict[str, Any] | None:
    """An email's conversation for people: its messages, the automatic answer before this email, who handles it."""
    conversation_id = await session.scalar(select(EmailRow.conversation_id).where(EmailRow.id == email_id))
    if conversation_id is None:
        return None
    rows = await session.execute(
        select(EmailRow, ProcessingResultRow)
        .join(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
        .where(EmailRow.conversation_id == conversation_id)
        .order_by(EmailRow.received_datetime, EmailRow.id)
        .limit(VIEW_LIMIT)
    )
    messages = [_message(email, result) for email, result in rows]
    current = next((m for m in messages if m["email_id"] == email_id), None)
    earlier = [m for m in messages if m["email_id"] != email_id and _before(m, current)]
    answers = [m for m in earlier if m["action"] == Action.AUTO_HANDLE.value and m["response_text"]]
    people = await _answered_by(session, {conversation_id})
    return {
        "id": conversation_id,
        "messages": messages,
        "automatic_answer": answers[-1] if answers else None,
        "automatic_replies": sum(1 for m in messages if m["action"] == Action.AUTO_HANDLE.value),
        "handled_by": people.get(conversation_id),
    }


def _message(email: EmailRow, result: ProcessingResultRow) -> dict[str, Any]:
    return {
        "email_id": email.id,
        "subject": email.subject,
        "sender": email.sender,
        "received_datetime": email.received_datetime,
        "action": result.action,
        "shadow": result.shadow,
        "assigned_to": result.assigned_to,
        "response_text": result.response_text,
        "response_sent": result.response_sent,
    }


def _before(message: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    return (message["received_datetime"], message["email_id"]) < (current["received_datetime"], current["email_id"])


async def _answered_by(session: AsyncSession, conversation_ids: set[int]) -> dict[int, str]:
    rows = await session.execute(
        select(EmailRow.conversation_id, FeedbackRow.actor)
        .join(FeedbackRow, FeedbackRow.email_id == EmailRow.id)
        .where(EmailRow.conversation_id.in_(conversation_ids), FeedbackRow.kind.in_(ANSWERING))
        .order_by(FeedbackRow.id)
    )
    return {conversation: actor for conversation, actor in rows if conversation is not None and actor}


async def _known_keys(session: AsyncSession, keys: set[str]) -> dict[str, int]:
    if not keys:
        return {}
    rows = await session.execute(
        select(ConversationKeyRow.key, ConversationKeyRow.conversation_id).where(ConversationKeyRow.key.in_(keys))
    )
    return {key: conversation for key, conversation in rows}


def _oldest(conversation_ids: list[int]) -> int:
    """Stored conversations (positive ids) before ones made in this batch (negative, -1 the first made)."""
    stored = [c for c in conversation_ids if c > 0]
    return min(stored) if stored else max(conversation_ids)


async def _new_conversations(session: AsyncSession, count: int) -> dict[int, int]:
    """Create `count` conversations in one statement; provisional id -n -> the n-th one's real id."""
    if not count:
        return {}
    now = utcnow()
    rows = await session.execute(
        insert(ConversationRow).returning(ConversationRow.id, sort_by_parameter_order=True),
        [{"created_at": now} for _ in range(count)],
    )
    return {-(number + 1): conversation_id for number, (conversation_id,) in enumerate(rows)}


async def _add_keys(session: AsyncSession, keys: Mapping[str, int]) -> None:
    """Insert-if-absent: a key another worker recorded first keeps its conversation.

    Rows go in key order: two workers inserting overlapping keys then take the unique index's locks in the same
    order and one waits for the other, where in arrival order they could deadlock (seen on PostgreSQL with 4
    workers on a burst of one thread's mail)."""
    if keys:
        rows = [{"key": key, "conversation_id": keys[key]} for key in sorted(keys)]
        await session.execute(_insert(session, ConversationKeyRow), rows)
