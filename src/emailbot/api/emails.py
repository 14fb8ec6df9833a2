"""Emails: the list with filters and paging, and one email with everything EmailBot did with it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.api.deps import SessionDep
from emailbot.api.errors import ApiError
from emailbot.domain import Action, Status
from emailbot.store import conversations, work
from emailbot.store.tables import (
    ClassificationRow,
    EmailRow,
    EscalationRow,
    ProcessingResultRow,
    SideEffectRow,
)

router = APIRouter(prefix="/emails", tags=["emails"])


class EmailSummary(BaseModel):
    id: int
    subject: str
    sender: str | None
    sender_name: str
    received_datetime: datetime
    status: str
    action: str | None
    category: str | None
    confidence: float | None
    parse_error: bool
    shadow: bool = False  # decided in shadow mode: `action` is what EmailBot would have done
    would_have: str | None = None  # "would have: AUTO_HANDLE" for a shadow decision
    assigned_to: str | None = None
    noise: str = ""  # the kind of noise of a NO_ACTION email (spam, newsletter, thanks, ...)


class EmailPage(BaseModel):
    items: list[EmailSummary]
    total: int
    page: int
    page_size: int


class EmailFilters(BaseModel):
    category: str | None = None
    status: Status | None = None
    action: Action | None = None
    noise: str | None = None  # a kind of noise (spam, phishing, newsletter, notification, thanks, not_a_request)
    sender: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None


@router.get("", response_model=EmailPage)
async def list_emails(
    session: SessionDep,
    filters: Annotated[EmailFilters, Query()],
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EmailPage:
    if filters.received_from and filters.received_to and filters.received_from > filters.received_to:
        raise ApiError(422, "validation_error", "received_from must not be after received_to")
    query = _filtered(select(EmailRow, ProcessingResultRow).join(ProcessingResultRow), filters)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(EmailRow.received_datetime.desc(), EmailRow.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    items = [_summary(email, result) for email, result in rows]
    return EmailPage(items=items, total=total, page=page, page_size=page_size)


def _filtered(
    query: Select[EmailRow, ProcessingResultRow], filters: EmailFilters
) -> Select[EmailRow, ProcessingResultRow]:
    if filters.category:
        query = query.where(ProcessingResultRow.category == filters.category.upper())
    if filters.status:
        query = query.where(ProcessingResultRow.status == filters.status.value)
    if filters.action:
        query = query.where(ProcessingResultRow.action == filters.action.value)
    if filters.noise:
        query = query.where(ProcessingResultRow.noise == filters.noise.lower())
    if filters.sender:
        query = query.where(func.lower(EmailRow.sender).contains(filters.sender.lower(), autoescape=True))
    if filters.received_from:
        query = query.where(EmailRow.received_datetime >= filters.received_from)
    if filters.received_to:
        query = query.where(EmailRow.received_datetime <= filters.received_to)
    return query


def _summary(email: EmailRow, result: ProcessingResultRow) -> EmailSummary:
    return EmailSummary(
        id=email.id,
        subject=email.subject,
        sender=email.sender,
        sender_name=email.sender_name,
        received_datetime=email.received_datetime,
        status=result.status,
        action=result.action,
        category=result.category,
        confidence=result.confidence,
        parse_error=email.parse_error is not None,
        shadow=result.shadow,
        would_have=would_have(result),
        assigned_to=result.assigned_to,
        noise=result.noise,
    )


def would_have(result: ProcessingResultRow) -> str | None:
    return f"would have: {result.action}" if result.shadow and result.action else None


@router.get("/{email_id}")
async def get_email(email_id: int, session: SessionDep) -> dict[str, Any]:
    found = await work.email_with_result(session, email_id)
    if found is None:
        raise ApiError(404, "not_found", f"Email {email_id} does not exist.")
    email, result = found
    return {
        **_email_fields(email),
        "classification": await _classification(session, email_id),
        "processing_result": _processing(result),
        "response": await _response(session, email_id, result),
        "escalation": await _escalation(session, result.escalation_id),
        # The conversation, with the automatic answer that came before this email, beside it.
        "conversation": await conversations.view(session, email_id),
        "timeline": await _timeline(session, email, result),
    }


def _email_fields(email: EmailRow) -> dict[str, Any]:
    return {
        "id": email.id,
        "mailbox": email.mailbox,
        "source_id": email.source_id,
        "message_id": email.message_id,
        "thread_id": email.thread_id,
        "subject": email.subject,
        "sender": email.sender,
        "sender_name": email.sender_name,
        "recipients": email.recipients,
        "received_datetime": email.received_datetime,
        "importance": email.importance,
        "body_text": email.body_text,
        "clean_text": email.clean_text,
        "attachments": email.attachments,
        "loop_signals": email.loop_signals,
        "parse_error": email.parse_error,
    }


async def _classification(session: AsyncSession, email_id: int) -> dict[str, Any] | None:
    row = await session.scalar(
        select(ClassificationRow)
        .where(ClassificationRow.email_id == email_id)
        .order_by(ClassificationRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    fields = (
        "category",
        "confidence",
        "reasoning",
        "urgency",
        "suggested_action",
        "required_expertise",
        "estimated_effort",
        "language",
        "summary",
        "classifier",
        "model",
        "latency_ms",
        "prompt_tokens",
        "completion_tokens",
        "unrecognized",
        "request_confidence",
        "noise",
        "created_at",
    )
    return {name: getattr(row, name) for name in fields}


def _processing(result: ProcessingResultRow) -> dict[str, Any]:
    fields = (
        "status",
        "action",
        "noise",
        "reason",
        "category",
        "confidence",
        "response_sent",
        "escalation_id",
        "attempts",
        "error",
        "processing_time_ms",
        "created_at",
        "started_at",
        "completed_at",
        "shadow",
        "assigned_to",
    )
    return {name: getattr(result, name) for name in fields} | {"would_have": would_have(result)}


async def _response(session: AsyncSession, email_id: int, result: ProcessingResultRow) -> dict[str, Any] | None:
    if result.response_text is None:
        return None
    effect = await session.scalar(  # the latest: an approved reply after its draft, a re-run's after the first run's
        select(SideEffectRow)
        .where(SideEffectRow.email_id == email_id, SideEffectRow.kind.in_(("reply", "draft")))
        .order_by(SideEffectRow.id.desc())
        .limit(1)
    )
    return {
        "kind": effect.kind if effect else None,
        "status": effect.status if effect else None,
        "to": [a["email"] for a in effect.payload.get("to", [])] if effect else [],
        "subject": effect.payload.get("subject") if effect else None,
        "text": result.response_text,
        "sent": result.response_sent,
        "reference": effect.result if effect else None,
    }


async def _escalation(session: AsyncSession, escalation_id: int | None) -> dict[str, Any] | None:
    if escalation_id is None:
        return None
    row = await session.get(EscalationRow, escalation_id)
    if row is None:
        return None
    fields = (
        "id",
        "name",
        "category",
        "urgency",
        "status",
        "reason",
        "summary",
        "members",
        "chat_id",
        "chat_url",
        "unknown_members",
        "follow_ups",
        "created_at",
        "resolved_at",
        "resolution_notes",
    )
    return {name: getattr(row, name) for name in fields}


async def _timeline(session: AsyncSession, email: EmailRow, result: ProcessingResultRow) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"at": email.created_at, "event": "received"}]
    effects = await session.scalars(
        select(SideEffectRow).where(SideEffectRow.email_id == email.id).order_by(SideEffectRow.id)
    )
    for effect in effects:
        events.append({"at": effect.created_at, "event": f"{effect.kind} planned", "key": effect.idempotency_key})
        if effect.done_at:
            events.append({"at": effect.done_at, "event": f"{effect.kind} done", "reference": effect.result})
        elif effect.error:
            events.append({"at": None, "event": f"{effect.kind} {effect.status}", "error": effect.error})
    if result.completed_at:
        events.append({"at": result.completed_at, "event": result.status})
    return events
