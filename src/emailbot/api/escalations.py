"""Escalations: the list with filters and paging, one escalation with its deliveries, and resolving it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emailbot.api.deps import RuntimeDep, SessionDep
from emailbot.api.errors import ApiError
from emailbot.escalations.sla import SlaPolicy
from emailbot.review import actions
from emailbot.store.tables import (
    EmailRow,
    EscalationRow,
    NotificationDeliveryRow,
    ProcessingResultRow,
    utcnow,
)

router = APIRouter(prefix="/escalations", tags=["escalations"])


class EscalationOut(BaseModel):
    id: int
    name: str
    status: str
    category: str
    urgency: str
    reason: str
    summary: str
    email_id: int
    email_subject: str
    email_sender: str | None
    members: list[str]
    unknown_members: list[str]
    chat_id: str | None
    chat_url: str | None
    notifier: str | None
    follow_ups: int
    created_at: datetime
    resolved_at: datetime | None
    resolution_notes: str | None
    sla_status: str
    sla_target_minutes: float
    sla_due_at: datetime


class EscalationPage(BaseModel):
    items: list[EscalationOut]
    total: int
    page: int
    page_size: int


class Resolution(BaseModel):
    notes: str = Field(min_length=1, max_length=10_000)
    resolved_by: str = Field(default="", max_length=200)


@router.get("", response_model=EscalationPage)
async def list_escalations(
    session: SessionDep,
    runtime: RuntimeDep,
    status: Literal["active", "resolved", "all"] = "active",
    category: str | None = None,
    urgency: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> EscalationPage:
    query = _filtered(select(EscalationRow, EmailRow).join(EmailRow), status, category, urgency)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.execute(
        query.order_by(EscalationRow.created_at.desc(), EscalationRow.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    policy, now = SlaPolicy.from_settings(runtime.settings), utcnow()
    items = [_out(escalation, email, policy, now) for escalation, email in rows]
    return EscalationPage(items=items, total=total, page=page, page_size=page_size)


@router.get("/{escalation_id}")
async def get_escalation(escalation_id: int, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    escalation, email = await _load(session, escalation_id)
    deliveries = await session.scalars(
        select(NotificationDeliveryRow)
        .where(NotificationDeliveryRow.escalation_id == escalation_id)
        .order_by(NotificationDeliveryRow.id)
    )
    emails = await session.execute(
        select(EmailRow.id, EmailRow.subject, EmailRow.received_datetime)
        .join(ProcessingResultRow, ProcessingResultRow.email_id == EmailRow.id)
        .where(ProcessingResultRow.escalation_id == escalation_id)
        .order_by(EmailRow.received_datetime)
    )
    out = _out(escalation, email, SlaPolicy.from_settings(runtime.settings), utcnow())
    return {
        **out.model_dump(),
        "emails": [{"id": i, "subject": s, "received_datetime": r} for i, s, r in emails],
        "deliveries": [delivery_out(row) for row in deliveries],
    }


@router.post("/{escalation_id}/resolve", response_model=EscalationOut)
async def resolve_escalation(
    escalation_id: int, resolution: Resolution, runtime: RuntimeDep, request: Request
) -> EscalationOut:
    """Resolve with notes; the chat and the webhooks hear about it once the resolution is committed."""
    principal = getattr(request.state, "principal", None)
    who = resolution.resolved_by or getattr(principal, "name", "") or "api"
    try:
        await actions.resolve_escalation(runtime, escalation_id, resolution.notes, who)
    except actions.ReviewError as exc:
        raise ApiError(exc.status, "conflict" if exc.status == 409 else exc.code, exc.message) from None
    async with runtime.db.transaction() as session:
        escalation, email = await _load(session, escalation_id)
    return _out(escalation, email, SlaPolicy.from_settings(runtime.settings), utcnow())


def delivery_out(row: NotificationDeliveryRow) -> dict[str, Any]:
    fields = ("id", "target", "kind", "status", "http_status", "error", "attempts", "reference", "details")
    return {name: getattr(row, name) for name in fields} | {
        "escalation_id": row.escalation_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def _load(session: AsyncSession, escalation_id: int) -> tuple[EscalationRow, EmailRow]:
    found = (
        await session.execute(select(EscalationRow, EmailRow).join(EmailRow).where(EscalationRow.id == escalation_id))
    ).first()
    if found is None:
        raise ApiError(404, "not_found", f"Escalation {escalation_id} does not exist.")
    return found[0], found[1]


def _filtered(
    query: Select[EscalationRow, EmailRow], status: str, category: str | None, urgency: str | None
) -> Select[EscalationRow, EmailRow]:
    if status != "all":
        query = query.where(EscalationRow.status == status)
    if category:
        query = query.where(EscalationRow.category == category.upper())
    if urgency:
        query = query.where(EscalationRow.urgency == urgency.upper())
    return query


def _out(row: EscalationRow, email: EmailRow, policy: SlaPolicy, now: datetime) -> EscalationOut:
    return EscalationOut(
        id=row.id,
        name=row.name,
        status=row.status,
        category=row.category,
        urgency=row.urgency,
        reason=row.reason,
        summary=row.summary,
        email_id=row.email_id,
        email_subject=email.subject,
        email_sender=email.sender,
        members=list(row.members),
        unknown_members=list(row.unknown_members),
        chat_id=row.chat_id,
        chat_url=row.chat_url,
        notifier=row.notifier,
        follow_ups=row.follow_ups,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolution_notes=row.resolution_notes,
        sla_status=policy.status(row.created_at, row.urgency, row.resolved_at, now),
        sla_target_minutes=policy.target(row.urgency).total_seconds() / 60,
        sla_due_at=policy.due_at(row.created_at, row.urgency),
    )
