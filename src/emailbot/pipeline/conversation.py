"""The conversation facts routing reads, kept up to date while a batch is decided.

A batch can hold an email and the answer to it (a backlog after downtime, a replay of an export); the answer must
see the automatic reply EmailBot is deciding for the first one a moment earlier, not only what is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Decision, Email
from emailbot.pipeline.route import ConversationFacts
from emailbot.store import conversations


class ConversationTracker:
    def __init__(self, placed: Mapping[int, int], states: Mapping[int, conversations.ConversationState]) -> None:
        self.placed = dict(placed)
        self.facts = {
            conversation: ConversationFacts(state.id, state.auto_replies, state.auto_reply_email_id, state.handled_by)
            for conversation, state in states.items()
        }

    def facts_for(self, email_id: int) -> ConversationFacts:
        conversation = self.placed.get(email_id)
        return self.facts.get(conversation, ConversationFacts(conversation)) if conversation else ConversationFacts()

    def record(self, email_id: int, decision: Decision) -> None:
        """An automatic answer decided for `email_id` counts for the later emails of its conversation."""
        conversation = self.placed.get(email_id)
        if conversation is None or decision.action != Action.AUTO_HANDLE:
            return
        current = self.facts_for(email_id)
        self.facts[conversation] = replace(current, auto_replies=current.auto_replies + 1, auto_reply_email_id=email_id)


async def track(session: AsyncSession, emails: Mapping[int, Email]) -> ConversationTracker:
    placed = await conversations.place(session, emails)
    return ConversationTracker(placed, await conversations.states(session, placed))


async def remember_planned_replies(session: AsyncSession, effects: Iterable[Mapping[str, Any]]) -> None:
    """The planned Message-ID of every reply and draft joins its email's conversation, so an answer to it is found
    even when the sender's client keeps only In-Reply-To."""
    replies = [
        (int(effect["email_id"]), str(effect["payload"]["message_id"]))
        for effect in effects
        if effect["kind"] in ("reply", "draft") and effect["payload"].get("message_id")
    ]
    await conversations.remember_replies(session, replies)
