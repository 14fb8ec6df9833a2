"""Pulling an email back from noise: a person saw a request in what EmailBot left alone.

The email goes to human review (flagged in the mailbox, in the review queue), the change is feedback (a missed
request that the learning loop and the evaluation can count), and the API's audit log records who did it. The flag
is a side effect carried out by the pipeline under its own key, like an approved reply, so a double click flags once.
"""

from __future__ import annotations

from emailbot.domain import Action
from emailbot.review.actions import Outcome, ReviewError, _feedback, _load, _settled
from emailbot.review.feedback import FeedbackKind
from emailbot.runtime import Runtime
from emailbot.store.noise import requeue_for_review


def pull_back_key(email_id: int) -> str:
    return f"not-noise:{email_id}"


async def pull_back(runtime: Runtime, email_id: int, actor: str) -> Outcome:
    """NO_ACTION -> HUMAN_REVIEW, with a feedback row; refused for an email that is not (or no longer) noise."""
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
        _settled(result)
        if result.action != Action.NO_ACTION.value:
            raise ReviewError(409, "not_noise", "This email was not left alone as noise.")
        category = result.category
        _feedback(session, email_id, FeedbackKind.NOT_NOISE, actor, original_category=category)
        reason = f"pulled back from noise by {actor[:100]} (was: {result.reason or 'noise'})"
        await requeue_for_review(session, result, pull_back_key(email_id), reason[:1000])
    await runtime.processor.process([email_id])
    return Outcome("done", "Sent to human review.", {"action": Action.HUMAN_REVIEW.value, "category": category})
