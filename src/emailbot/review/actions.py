"""Review actions, shared by the API and the dashboard. Each is one transaction plus, for a reply, the pipeline's
own outbox: an approved reply is stored as a side effect with the key `approved-reply:<email id>` and carried out by
the processor, so a double click, a retry or a crash in between sends it once."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.domain import Action, Status
from emailbot.escalations.resolution import announce, plan_announcement
from emailbot.pipeline.act import outgoing_payload, planned_message_id, reply_to
from emailbot.review.feedback import FeedbackKind
from emailbot.runtime import Runtime
from emailbot.store import conversations, work
from emailbot.store.convert import email_from_row
from emailbot.store.tables import (
    EmailRow,
    EscalationRow,
    FeedbackRow,
    ProcessingResultRow,
    SideEffectRow,
    utcnow,
)
from emailbot.store.work import FINAL, _insert

SEND_WAIT_SECONDS = 10.0


class ReviewError(Exception):
    """An action that cannot be done on this email now; `status` is the HTTP status that says why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # sent | queued | already_sent | done
    message: str
    details: dict[str, Any]


def approved_key(email_id: int) -> str:
    return f"approved-reply:{email_id}"


async def _load(session: AsyncSession, email_id: int) -> tuple[EmailRow, ProcessingResultRow]:
    found = await work.email_with_result(session, email_id)
    if found is None:
        raise ReviewError(404, "not_found", f"Email {email_id} does not exist.")
    return found


def _settled(result: ProcessingResultRow) -> None:
    if result.status not in FINAL:
        raise ReviewError(409, "in_progress", "EmailBot is still processing this email; try again in a moment.")


def _feedback(session: AsyncSession, email_id: int, kind: FeedbackKind, actor: str, **values: Any) -> None:
    session.add(FeedbackRow(email_id=email_id, kind=kind.value, actor=actor[:200], created_at=utcnow(), **values))


async def approve(runtime: Runtime, email_id: int, text: str | None, actor: str) -> Outcome:
    """Send the draft (or `text`, an edited draft or a reply written for an email under review) in the thread."""
    async with runtime.db.transaction() as session:
        email_row, result = await _load(session, email_id)
        existing = await session.scalar(
            select(SideEffectRow).where(SideEffectRow.idempotency_key == approved_key(email_id))
        )
        if existing is not None:
            return Outcome("already_sent", "This reply was already approved; it is sent once.", _effect(existing))
        _settled(result)
        if result.response_sent:
            raise ReviewError(409, "already_answered", "EmailBot already answered this email.")
        body = (text if text is not None else result.response_text or "").strip()
        if not body:
            raise ReviewError(422, "validation_error", "There is no draft: write the reply's text.")
        email = email_from_row(email_row)
        if email.reply_address is None:
            raise ReviewError(409, "no_recipient", "This email has no address to reply to.")
        planned = planned_message_id(approved_key(email_id), runtime.config.mailbox_address)
        if not await _claim_send(session, email_id, outgoing_payload(reply_to(email, body + "\n", planned))):
            return Outcome("already_sent", "This reply was already approved; it is sent once.", {})
        await conversations.remember_replies(session, [(email_id, planned)])
        _feedback(
            session,
            email_id,
            _approval_kind(result, body),
            actor,
            original_category=result.category,
            original_text=result.response_text,
            edited_text=body,
        )
        await _requeue_for_sending(session, result, body)
    return await _send_now(runtime, email_id)


def _approval_kind(result: ProcessingResultRow, body: str) -> FeedbackKind:
    if result.response_text is None:
        return FeedbackKind.REPLY_WRITTEN
    same = body.strip() == result.response_text.strip()
    return FeedbackKind.DRAFT_APPROVED if same else FeedbackKind.DRAFT_EDITED


async def _claim_send(session: AsyncSession, email_id: int, payload: dict[str, Any]) -> bool:
    """Store the reply intent once: of two concurrent approvals exactly one inserts it."""
    row = {
        "idempotency_key": approved_key(email_id),
        "email_id": email_id,
        "kind": "reply",
        "status": "pending",
        "payload": payload,
        "attempts": 0,
        "created_at": utcnow(),
    }
    inserted = await session.execute(_insert(session, SideEffectRow).returning(SideEffectRow.id), [row])
    return inserted.first() is not None


async def _requeue_for_sending(session: AsyncSession, result: ProcessingResultRow, body: str) -> None:
    """Hand the email back to the pipeline in `responding`: whoever claims it next (this request, a worker, or
    the sweeper after a crash) carries out the pending reply, exactly as for an automatic one."""
    now = utcnow()
    earlier = timedelta(milliseconds=result.processing_time_ms or 0)
    await session.execute(
        update(ProcessingResultRow)
        .where(ProcessingResultRow.id == result.id)
        .values(
            status=Status.RESPONDING.value,
            response_text=body,
            attempts=0,
            error=None,
            lease_until=None,
            next_attempt_at=now,
            started_at=now - earlier,  # processing time stays the pipeline's, plus the sending
        )
    )


async def _send_now(runtime: Runtime, email_id: int) -> Outcome:
    await runtime.processor.process([email_id])
    deadline = time.monotonic() + SEND_WAIT_SECONDS
    while True:
        async with runtime.db.transaction() as session:
            effect = await session.scalar(
                select(SideEffectRow).where(SideEffectRow.idempotency_key == approved_key(email_id))
            )
        assert effect is not None
        if effect.status == "done":
            return Outcome("sent", "The reply was sent.", _effect(effect))
        if effect.status == "failed" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)  # a worker holds the email's lease: it sends the reply; wait for its record
    return Outcome("queued", "The reply is queued and will be sent by the pipeline.", _effect(effect))


def _effect(effect: SideEffectRow) -> dict[str, Any]:
    return {"key": effect.idempotency_key, "status": effect.status, "reference": effect.result, "error": effect.error}


async def reject(runtime: Runtime, email_id: int, reason: str, actor: str) -> Outcome:
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
        _settled(result)
        if result.response_text is None or result.response_sent:
            raise ReviewError(409, "no_draft", "This email has no unsent draft to reject.")
        _feedback(
            session,
            email_id,
            FeedbackKind.DRAFT_REJECTED,
            actor,
            original_category=result.category,
            original_text=result.response_text,
            edited_text=reason.strip()[:2000] or None,
        )
    return Outcome("done", "The draft was rejected; it will not be sent.", {})


async def correct_category(runtime: Runtime, email_id: int, category: str, actor: str) -> Outcome:
    category = category.strip().upper()
    if category not in runtime.taxonomy.names:
        raise ReviewError(
            422, "validation_error", f"Unknown category {category!r}; one of {', '.join(runtime.taxonomy.names)}."
        )
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
        _settled(result)
        original = result.category
        if original == category:
            _feedback(
                session,
                email_id,
                FeedbackKind.CATEGORY_CONFIRMED,
                actor,
                original_category=original,
                corrected_category=category,
            )
            return Outcome("done", f"The category {category} was confirmed.", {"category": category})
        _feedback(
            session,
            email_id,
            FeedbackKind.CATEGORY_CORRECTED,
            actor,
            original_category=original,
            corrected_category=category,
        )
        result.category = category
    return Outcome("done", f"The category was changed from {original} to {category}.", {"category": category})


async def confirm(runtime: Runtime, email_id: int, actor: str) -> Outcome:
    """The email was looked at and its category is right: it leaves the review queue."""
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
        _settled(result)
        _feedback(
            session,
            email_id,
            FeedbackKind.CATEGORY_CONFIRMED,
            actor,
            original_category=result.category,
            corrected_category=result.category,
        )
    return Outcome("done", "Marked as reviewed.", {})


async def reprocess(runtime: Runtime, email_id: int, actor: str) -> Outcome:
    """Classify and route the email again (after a rule, threshold or model change).

    Refused once a reply went out: a second run could answer twice. Earlier side effects stay on record under a
    superseded key, so the new run plans fresh ones.
    """
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
        _settled(result)
        if result.response_sent:
            raise ReviewError(409, "already_answered", "A reply was already sent; re-running could answer twice.")
        run = 1 + len((await session.scalars(select(SideEffectRow.id).where(SideEffectRow.email_id == email_id))).all())
        await session.execute(
            update(SideEffectRow)
            .where(SideEffectRow.email_id == email_id)
            .values(idempotency_key=SideEffectRow.idempotency_key + f"#superseded-{run}")
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(SideEffectRow)
            .where(SideEffectRow.email_id == email_id, SideEffectRow.status == "pending")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(ProcessingResultRow)
            .where(ProcessingResultRow.id == result.id)
            .values(
                status=Status.RECEIVED.value,
                action=None,
                noise="",
                reason=None,
                response_text=None,
                escalation_id=None,
                attempts=0,
                error=None,
                lease_until=None,
                next_attempt_at=utcnow(),
                started_at=None,
                completed_at=None,
            )
        )
    await runtime.processor.process([email_id])
    async with runtime.db.transaction() as session:
        _, result = await _load(session, email_id)
    details = {"status": result.status, "action": result.action, "category": result.category}
    return Outcome("done", f"Processed again: {result.action or result.status}.", details)


async def resolve_escalation(runtime: Runtime, escalation_id: int, notes: str, actor: str) -> Outcome:
    async with runtime.db.transaction() as session:
        row = await session.get(EscalationRow, escalation_id)
        if row is None:
            raise ReviewError(404, "not_found", f"Escalation {escalation_id} does not exist.")
        if row.status == "resolved":
            raise ReviewError(409, "already_resolved", f"Escalation {escalation_id} is already resolved.")
        row.status = "resolved"
        row.resolved_at = utcnow()
        row.resolution_notes = notes.strip() or f"resolved by {actor}"
        announcement = await plan_announcement(session, row)
    if announcement is not None:  # the escalation's chat and webhooks hear about it, once, after the commit
        await announce(runtime.db, runtime.processor.runner, announcement)
    return Outcome("done", f"Escalation {escalation_id} resolved.", {"id": escalation_id, "status": "resolved"})


REVIEWABLE_ACTIONS = (Action.SUGGEST_RESPONSE.value, Action.HUMAN_REVIEW.value)
