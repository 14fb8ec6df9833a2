"""Alerts as the sink stored them: the list with filters and paging, acknowledge and resolve."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from emailbot.api.deps import SessionDep
from emailbot.api.errors import ApiError
from emailbot.ops.alerts import alert_payload
from emailbot.store.tables import AlertRow, utcnow

router = APIRouter(prefix="/alerts", tags=["alerts"])

SeverityFilter = Literal["info", "warning", "critical", "INFO", "WARNING", "CRITICAL"]


class AlertFilters(BaseModel):
    severity: SeverityFilter | None = None
    component: str | None = None
    status: Literal["open", "acknowledged", "resolved"] | None = None
    since: datetime | None = None


class Acknowledgement(BaseModel):
    by: str = Field(default="", max_length=200)


@router.get("")
async def list_alerts(
    session: SessionDep,
    filters: Annotated[AlertFilters, Query()],
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    query = select(AlertRow)
    if filters.severity:
        query = query.where(AlertRow.severity == filters.severity.lower())
    if filters.component:
        query = query.where(func.lower(AlertRow.component) == filters.component.lower())
    if filters.status:
        query = query.where(AlertRow.status == filters.status)
    if filters.since:
        if filters.since.tzinfo is None:
            raise ApiError(422, "validation_error", "since must carry a time zone, e.g. 2025-01-15T09:00:00Z")
        query = query.where(AlertRow.created_at >= filters.since)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(AlertRow.created_at.desc(), AlertRow.id.desc()).offset((page - 1) * page_size).limit(page_size)
    )
    return {"items": [alert_payload(row) for row in rows], "total": total, "page": page, "page_size": page_size}


@router.get("/{alert_id}")
async def get_alert(alert_id: int, session: SessionDep) -> dict[str, Any]:
    return alert_payload(await _alert(session, alert_id))


@router.post("/{alert_id}/acknowledge")
async def acknowledge(alert_id: int, session: SessionDep, body: Acknowledgement | None = None) -> dict[str, Any]:
    """Someone is on it: the alert stays listed, marked with who and when."""
    row = await _alert(session, alert_id)
    if row.status == "resolved":
        raise ApiError(409, "conflict", f"Alert {alert_id} is already resolved.")
    row.status, row.acknowledged_at, row.acknowledged_by = "acknowledged", utcnow(), (body.by if body else "")
    return alert_payload(row)


@router.post("/{alert_id}/resolve")
async def resolve(alert_id: int, session: SessionDep) -> dict[str, Any]:
    row = await _alert(session, alert_id)
    if row.status != "resolved":
        row.status, row.resolved_at = "resolved", utcnow()
    return alert_payload(row)


async def _alert(session: SessionDep, alert_id: int) -> AlertRow:
    row = await session.get(AlertRow, alert_id)
    if row is None:
        raise ApiError(404, "not_found", f"Alert {alert_id} does not exist.")
    return row
